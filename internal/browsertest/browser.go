// Package browsertest opens a page in a real headless browser — Debian's
// chromium — and reports what a person would get: the text it shows, what
// its console said, what it tried to fetch, and what a script measured.
// It speaks the Chrome DevTools protocol over a pipe (--remote-debugging-pipe:
// JSON messages on fds 3 and 4, each ended by a NUL byte), so it needs
// nothing but the standard library.
package browsertest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/liftoff-lab/liftoff/internal/toolpath"
)

// Chromium returns the browser's path. When it is missing it installs
// Debian's chromium with apt-get (as root, or through sudo); when that
// fails the test skips, or fails where LIFTOFF_REQUIRE_TOOLS is set (CI).
func Chromium(t testing.TB) string {
	t.Helper()

	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}

	if out, err := aptInstall("chromium"); err != nil {
		msg := fmt.Sprintf("chromium is not installed and apt-get could not install it (%v): %s", err, tail(out))
		if toolpath.Required() {
			t.Fatal(msg)
		}

		t.Skip("skipping: " + msg + " (set LIFTOFF_REQUIRE_TOOLS=1 to make this a failure)")
	}

	p, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("apt-get installed chromium, but it is not on PATH: %v", err)
	}

	return p
}

func aptInstall(pkg string) ([]byte, error) {
	var prefix []string

	if os.Geteuid() != 0 {
		if _, err := exec.LookPath("sudo"); err != nil {
			return nil, errors.New("not root and no sudo")
		}

		prefix = []string{"sudo", "-n"}
	}

	run := func(args ...string) ([]byte, error) {
		args = append(prefix, args...)
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")

		return cmd.CombinedOutput()
	}

	if out, err := run("apt-get", "update", "-qq"); err != nil {
		return out, err
	}

	return run("apt-get", "install", "-y", "-qq", pkg)
}

func tail(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 400 {
		s = "…" + s[len(s)-400:]
	}

	return s
}

// Page is what the browser made of a page.
type Page struct {
	// Text is document.body.innerText: what a person reads.
	Text string
	// DOM is the document as the browser parsed it.
	DOM string
	// Console holds console messages, uncaught exceptions and the browser's
	// own log entries (a blocked fetch, a resource that failed) at warning
	// level or worse, as "level: text".
	Console []string
	// Requests are the URLs the page asked for, the page itself included.
	Requests []string
	// Values are the results of the expressions passed to Open, in order.
	Values []json.RawMessage
}

// Flags are the ones the brief gives: headless, no network of its own.
var Flags = []string{
	"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
	"--disable-background-networking", "--disable-component-update", "--disable-sync",
}

// Open loads url in chromium, waits for its load event, then evaluates
// each expression in the page and returns what it saw.
func Open(ctx context.Context, chromium, profile, url string, exprs ...string) (*Page, error) {
	cmdIn, toBrowser, err := os.Pipe() // the browser reads commands on fd 3
	if err != nil {
		return nil, err
	}

	fromBrowser, cmdOut, err := os.Pipe() // and writes answers on fd 4
	if err != nil {
		return nil, err
	}

	args := append(append([]string{}, Flags...), "--user-data-dir="+profile, "--remote-debugging-pipe", "about:blank")
	cmd := exec.CommandContext(ctx, chromium, args...)
	cmd.ExtraFiles = []*os.File{cmdIn, cmdOut}

	var stderr strings.Builder

	cmd.Stderr = &stderr

	if err := cmd.Start(); err != nil {
		return nil, err
	}

	cmdIn.Close()
	cmdOut.Close()

	c := &conn{w: toBrowser, replies: map[int]chan reply{}, events: make(chan event, 1024)}
	go c.read(fromBrowser)

	page, err := c.visit(ctx, url, exprs)

	_, _ = c.call(ctx, "", "Browser.close", nil)
	toBrowser.Close()

	if werr := cmd.Wait(); err == nil && werr != nil && ctx.Err() == nil && !isExit(werr) {
		err = fmt.Errorf("chromium: %w: %s", werr, tail([]byte(stderr.String())))
	}

	if err != nil {
		return nil, fmt.Errorf("%w (chromium said: %s)", err, tail([]byte(stderr.String())))
	}

	return page, nil
}

func isExit(err error) bool {
	var ee *exec.ExitError

	return errors.As(err, &ee)
}

type reply struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Message string `json:"message"`
	} `json:"error"`
}

type event struct {
	Method    string          `json:"method"`
	Params    json.RawMessage `json:"params"`
	SessionID string          `json:"sessionId"`
}

type conn struct {
	w       io.Writer
	mu      sync.Mutex
	next    int
	replies map[int]chan reply
	events  chan event
	err     error
}

func (c *conn) read(r io.Reader) {
	br := bufio.NewReader(r)

	for {
		msg, err := br.ReadBytes(0)
		if err != nil {
			c.mu.Lock()
			c.err = fmt.Errorf("the browser closed its pipe: %w", err)

			for _, ch := range c.replies {
				close(ch)
			}

			c.replies = map[int]chan reply{}
			c.mu.Unlock()
			close(c.events)

			return
		}

		var m struct {
			ID int `json:"id"`
			reply
			event
		}

		if json.Unmarshal(msg[:len(msg)-1], &m) != nil {
			continue
		}

		if m.ID != 0 {
			c.mu.Lock()
			ch := c.replies[m.ID]
			delete(c.replies, m.ID)
			c.mu.Unlock()

			if ch != nil {
				ch <- m.reply
			}

			continue
		}

		select {
		case c.events <- m.event:
		default: // a page that floods its console must not stall the reader
		}
	}
}

func (c *conn) call(ctx context.Context, session, method string, params any) (json.RawMessage, error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()

		return nil, c.err
	}

	c.next++
	id := c.next
	ch := make(chan reply, 1)
	c.replies[id] = ch
	c.mu.Unlock()

	msg := map[string]any{"id": id, "method": method}
	if params != nil {
		msg["params"] = params
	}

	if session != "" {
		msg["sessionId"] = session
	}

	b, err := json.Marshal(msg)
	if err != nil {
		return nil, err
	}

	if _, err := c.w.Write(append(b, 0)); err != nil {
		return nil, err
	}

	select {
	case r, ok := <-ch:
		if !ok {
			return nil, c.err
		}

		if r.Error != nil {
			return nil, fmt.Errorf("%s: %s", method, r.Error.Message)
		}

		return r.Result, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%s: %w", method, ctx.Err())
	}
}

func (c *conn) visit(ctx context.Context, url string, exprs []string) (*Page, error) {
	var target struct {
		TargetID string `json:"targetId"`
	}

	if err := c.decode(ctx, "", "Target.createTarget", map[string]any{"url": "about:blank"}, &target); err != nil {
		return nil, err
	}

	var attached struct {
		SessionID string `json:"sessionId"`
	}

	if err := c.decode(ctx, "", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &attached); err != nil {
		return nil, err
	}

	s := attached.SessionID

	for _, domain := range []string{"Page", "Runtime", "Log", "Network"} {
		if _, err := c.call(ctx, s, domain+".enable", nil); err != nil {
			return nil, err
		}
	}

	if _, err := c.call(ctx, s, "Page.navigate", map[string]any{"url": url}); err != nil {
		return nil, err
	}

	p := &Page{}

	// Until the load event: everything the page did on the way.
	for loaded := false; !loaded; {
		select {
		case e, ok := <-c.events:
			if !ok {
				return nil, c.err
			}

			loaded = e.SessionID == s && e.Method == "Page.loadEventFired"
			p.note(e)
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for the page to load: %w", ctx.Err())
		}
	}

	all := append([]string{"document.body.innerText", "document.documentElement.outerHTML"}, exprs...)

	for i, expr := range all {
		var res struct {
			Result struct {
				Value json.RawMessage `json:"value"`
			} `json:"result"`
			ExceptionDetails *struct {
				Text string `json:"text"`
			} `json:"exceptionDetails"`
		}

		if err := c.decode(ctx, s, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true}, &res); err != nil {
			return nil, err
		}

		if res.ExceptionDetails != nil {
			return nil, fmt.Errorf("evaluating %q: %s", expr, res.ExceptionDetails.Text)
		}

		switch i {
		case 0:
			_ = json.Unmarshal(res.Result.Value, &p.Text)
		case 1:
			_ = json.Unmarshal(res.Result.Value, &p.DOM)
		default:
			p.Values = append(p.Values, res.Result.Value)
		}
	}

	// What arrived while evaluating (a late console message) counts too.
	for {
		select {
		case e, ok := <-c.events:
			if !ok {
				return p, nil
			}

			p.note(e)
		default:
			return p, nil
		}
	}
}

func (c *conn) decode(ctx context.Context, session, method string, params, into any) error {
	raw, err := c.call(ctx, session, method, params)
	if err != nil {
		return err
	}

	return json.Unmarshal(raw, into)
}

// note keeps what matters of one event.
func (p *Page) note(e event) {
	switch e.Method {
	case "Runtime.consoleAPICalled":
		var v struct {
			Type string `json:"type"`
			Args []struct {
				Value       any    `json:"value"`
				Description string `json:"description"`
			} `json:"args"`
		}

		if json.Unmarshal(e.Params, &v) == nil && (v.Type == "error" || v.Type == "warning" || v.Type == "assert") {
			var parts []string
			for _, a := range v.Args {
				parts = append(parts, fmt.Sprint(a.Value)+a.Description)
			}

			p.Console = append(p.Console, v.Type+": "+strings.Join(parts, " "))
		}
	case "Runtime.exceptionThrown":
		var v struct {
			ExceptionDetails struct {
				Text string `json:"text"`
			} `json:"exceptionDetails"`
		}

		_ = json.Unmarshal(e.Params, &v)
		p.Console = append(p.Console, "exception: "+v.ExceptionDetails.Text)
	case "Log.entryAdded":
		var v struct {
			Entry struct {
				Level, Text, URL string
			} `json:"entry"`
		}

		if json.Unmarshal(e.Params, &v) == nil && (v.Entry.Level == "error" || v.Entry.Level == "warning") {
			p.Console = append(p.Console, v.Entry.Level+": "+v.Entry.Text+" "+v.Entry.URL)
		}
	case "Network.requestWillBeSent":
		var v struct {
			Request struct {
				URL string `json:"url"`
			} `json:"request"`
		}

		if json.Unmarshal(e.Params, &v) == nil {
			p.Requests = append(p.Requests, v.Request.URL)
		}
	}
}
