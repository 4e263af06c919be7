package main

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"

	"github.com/liftoff-lab/liftoff/cluster/flash"
	"github.com/liftoff-lab/liftoff/cluster/plan"
	"github.com/liftoff-lab/liftoff/ui"
)

// mediaBackend is liftoff up's backend with the wizard's "prepare boot
// media" step: liftoff flash's code, on this machine's devices. liftoff
// sim has no such step (its boards boot no media).
type mediaBackend struct {
	*backend
	host  flash.Host
	cache string // "" is flash.DefaultCacheDir
}

// Media lists this machine's devices and each plan board's image and
// recorded medium.
func (s *mediaBackend) Media(p *plan.Plan) (ui.Media, error) {
	if runtime.GOOS != "linux" {
		return ui.Media{}, errors.New("writing devices is Linux only for now: liftoff flash BOARD --to FILE prints the manual steps")
	}

	devs, err := s.host.Devices()
	if err != nil {
		return ui.Media{}, err
	}

	cards, err := flash.Cards(s.dir)
	if err != nil {
		return ui.Media{}, err
	}

	m := ui.Media{Boards: map[string]ui.BoardMedium{}}

	for _, d := range devs {
		m.Devices = append(m.Devices, ui.MediaDevice{Path: d.Path, Name: d.Name, Line: d.Describe(), Refusal: d.Refusal})
	}

	for _, b := range p.Boards {
		job, err := flash.NewJob(p, b.Name, "", s.dir, nil)
		if err != nil {
			m.Boards[b.Name] = ui.BoardMedium{Facts: []string{err.Error()}}

			continue
		}

		bm := ui.BoardMedium{Facts: flash.Facts(b, job.Image, job.Version()), FirstBoot: flash.FirstBoot(b)}
		if c, ok := cards[b.Name]; ok {
			bm.Carries = carries(c)
		}

		m.Boards[b.Name] = bm
	}

	return m, nil
}

// written is the lab's record of written media, for the wizard.
func written(dir string) ([]ui.Written, error) {
	cards, err := flash.Cards(dir)
	if err != nil {
		return nil, err
	}

	out := make([]ui.Written, 0, len(cards))
	for _, c := range cards {
		out = append(out, ui.Written{Board: c.Board, Address: c.Address, Model: c.Model, Machine: c.Machine, Role: c.Role})
	}

	slices.SortFunc(out, func(a, b ui.Written) int { return strings.Compare(a.Board, b.Board) })

	return out, nil
}

func carries(c flash.Card) string {
	return fmt.Sprintf("%s image (%s), written %s", c.Role, shortID(c.SchematicID), c.Written.Format("2006-01-02"))
}

// Flash writes board's image to device, as liftoff flash does after its
// confirmation (the wizard asked for the name), and says what the medium
// now carries.
func (s *mediaBackend) Flash(ctx context.Context, p *plan.Plan, board, device string, report func(ui.Progress)) (string, error) {
	card, err := s.flash(ctx, p, board, device, func(pr flash.Progress) {
		report(ui.Progress{Op: ui.OpFlash, Node: board, Step: pr.Phase, Done: int(pr.Done), Total: int(pr.Total), Rate: pr.Rate, ETA: pr.ETA})
	})
	if err != nil {
		return "", err
	}

	return carries(card), nil
}

func (s *mediaBackend) flash(ctx context.Context, p *plan.Plan, board, device string, report func(flash.Progress)) (flash.Card, error) {
	dir := s.cache
	if dir == "" {
		var err error
		if dir, err = flash.DefaultCacheDir(); err != nil {
			return flash.Card{}, err
		}
	}

	job, err := flash.NewJob(p, board, "", s.dir, &flash.Cache{Dir: dir})
	if err != nil {
		return flash.Card{}, err
	}

	dev, err := s.host.Lookup(device)
	if err != nil {
		return flash.Card{}, err
	}

	file, err := job.Fetch(ctx, report, nil)
	if err != nil {
		return flash.Card{}, err
	}

	return job.Flash(ctx, file, func(size int64) (flash.Medium, error) {
		if err := dev.Fits(size); err != nil {
			return nil, err
		}

		return s.host.Open(dev)
	}, report)
}
