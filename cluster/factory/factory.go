// Package factory talks to an Image Factory: it registers schematics
// (POST /schematics) and asks whether one is known (GET /schematics/{id}),
// as the factory's HTTP API documents them (siderolabs/image-factory
// docs/api.md; internal/frontend/http/configuration.go at v1.5.0). A
// factory serves an installer or a disk image only for a schematic that was
// posted to it; an unknown ID is a 404 at the board's image pull.
package factory

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/liftoff-lab/liftoff/cluster/image"
	"github.com/liftoff-lab/liftoff/cluster/plan"
)

// Client speaks to one Image Factory.
type Client struct {
	base *url.URL
	http *http.Client
}

// New makes a client for images.factory (a host, or a URL for a
// self-hosted factory; see plan.FactoryURL).
func New(factory string) (*Client, error) {
	u, err := plan.FactoryURL(factory)
	if err != nil {
		return nil, err
	}

	return &Client{base: u, http: &http.Client{Timeout: 30 * time.Second}}, nil
}

// URL is where the factory answers.
func (c *Client) URL() string { return c.base.String() }

// UnreachableError is a factory that did not answer: offline, DNS, TLS, a
// timeout.
type UnreachableError struct {
	Factory string
	Err     error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("the image factory %s did not answer: %v", e.Factory, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// RefusedError is an answer that is not the documented success: the
// factory's plain-text error body is kept, it says what it disliked.
type RefusedError struct {
	Factory string
	Status  int
	Body    string
}

func (e *RefusedError) Error() string {
	msg := fmt.Sprintf("the image factory %s answered %d %s", e.Factory, e.Status, http.StatusText(e.Status))
	if e.Body != "" {
		msg += ": " + e.Body
	}

	return msg
}

// Register posts a schematic and returns the ID the factory gave it. The
// factory answers 201 Created with {"id": …, "schematic": …} for a new and
// an existing schematic alike, and 400 for a body it cannot parse strictly
// (unknown fields included). An ID other than the schematic's own hash is
// an error: the configs would name an installer the factory does not have.
func (c *Client) Register(ctx context.Context, s image.Schematic) (string, error) {
	body, err := s.Marshal()
	if err != nil {
		return "", err
	}

	want, err := s.ID()
	if err != nil {
		return "", err
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base.JoinPath("schematics").String(), bytes.NewReader(body))
	if err != nil {
		return "", err
	}

	req.Header.Set("Content-Type", "application/yaml")
	req.Header.Set("Accept", "application/json")

	resp, err := c.do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close() //nolint:errcheck

	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))

	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return "", c.refused(resp.StatusCode, data)
	}

	var answer struct {
		ID string `json:"id"`
	}

	if err := json.Unmarshal(data, &answer); err != nil || answer.ID == "" {
		return "", fmt.Errorf("the image factory %s answered %d without a schematic ID (%q): is it an Image Factory?", c.URL(), resp.StatusCode, short(data))
	}

	if answer.ID != want {
		return "", fmt.Errorf("the image factory %s gave schematic ID %s for the schematic liftoff hashes to %s: "+
			"its configs would name an installer the factory does not serve (a factory with authentication adds an owner, which changes the ID; liftoff does not support that)",
			c.URL(), answer.ID, want)
	}

	return answer.ID, nil
}

// Known asks the factory whether it has a schematic: GET /schematics/{id}
// is 200 with the schematic, 404 when unknown.
func (c *Client) Known(ctx context.Context, id string) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base.JoinPath("schematics", id).String(), nil)
	if err != nil {
		return false, err
	}

	resp, err := c.do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close() //nolint:errcheck

	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))

	switch resp.StatusCode {
	case http.StatusOK:
		return true, nil
	case http.StatusNotFound:
		return false, nil
	}

	return false, c.refused(resp.StatusCode, data)
}

func (c *Client) do(req *http.Request) (*http.Response, error) {
	resp, err := c.http.Do(req)
	if err != nil {
		if ctxErr := req.Context().Err(); ctxErr != nil {
			return nil, ctxErr
		}

		return nil, &UnreachableError{Factory: c.URL(), Err: err}
	}

	return resp, nil
}

func (c *Client) refused(status int, body []byte) error {
	return &RefusedError{Factory: c.URL(), Status: status, Body: short(body)}
}

func short(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = s[:300] + "…"
	}

	return s
}

// IsUnreachable tells whether err is a factory that did not answer.
func IsUnreachable(err error) bool {
	var u *UnreachableError

	return errors.As(err, &u)
}
