// Package bundle gathers one board's support bundle: its timeline from a
// recorded event stream, services and their logs, the kernel log and the
// resources that explain a stuck board — as a tar.gz a person can attach
// to an issue. Everything in it is redacted; the machine config is never
// fetched. What could not be gathered is listed, with why, in MISSING.txt.
package bundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cosi-project/runtime/pkg/resource"
	"github.com/siderolabs/talos/pkg/machinery/api/common"
	"github.com/siderolabs/talos/pkg/machinery/client"
	clientconfig "github.com/siderolabs/talos/pkg/machinery/client/config"
	"github.com/siderolabs/talos/pkg/machinery/resources/cluster"
	"github.com/siderolabs/talos/pkg/machinery/resources/k8s"
	"github.com/siderolabs/talos/pkg/machinery/resources/network"
	"github.com/siderolabs/talos/pkg/machinery/resources/runtime"
	"go.yaml.in/yaml/v4"

	"github.com/liftoff-lab/liftoff/internal/fileio"
	"github.com/liftoff-lab/liftoff/probe"
	"github.com/liftoff-lab/liftoff/probe/svg"
)

// Options say which board and what to include.
type Options struct {
	Node     string // the plan's board name
	Endpoint string // host:port of its Talos API
	// Talosconfig reads a board running its config; nil reads only a
	// board in maintenance mode.
	Talosconfig *clientconfig.Config
	// Events is a recorded stream (liftoff sim --record); nil: none given.
	Events     []probe.Event
	EventsFrom string // where Events came from, for the README
	// Speed is the recorded lab's --speed (a simulated lab's recording): the
	// timeline picture's usual stage times shrink by it. 0: real boards.
	Speed float64
	// Board is the plan's entry for the node (YAML), included as it is.
	Board []byte
	// LogLines is the tail of each service's log (default 200).
	LogLines int
	// CallTimeout bounds each API call (default 15s).
	CallTimeout time.Duration
	// Progress is told what is being gathered (a line each); may be nil.
	Progress func(string)
	// Version is liftoff's, for the README.
	Version string
}

// Missing is one part the bundle lacks, and why.
type Missing struct {
	Part string
	Why  string
}

// Result says what the bundle holds.
type Result struct {
	Files   []string
	Missing []Missing
	// Reached: the board's Talos API answered; Mode says how.
	Reached bool
	Mode    string
	// Unreached is why it did not.
	Unreached string
}

// resources are the kinds worth reading on a stuck board. Optional ones
// are fine to lack (Talos reports diagnostics only when something is off).
var resources = []struct {
	file     string
	ns       resource.Namespace
	typ      resource.Type
	optional bool
}{
	{"machinestatus", runtime.NamespaceName, runtime.MachineStatusType, false},
	{"extensionstatuses", runtime.NamespaceName, runtime.ExtensionStatusType, false},
	{"members", cluster.NamespaceName, cluster.MemberType, false},
	{"nodename", k8s.NamespaceName, k8s.NodenameType, false},
	{"nodeaddresses", network.NamespaceName, network.NodeAddressType, false},
	{"diagnostics", runtime.NamespaceName, runtime.DiagnosticType, true},
}

type file struct {
	name string
	data []byte
}

type gatherer struct {
	opts  Options
	files []file
	res   Result
}

// Write gathers the bundle and writes it to w as a tar.gz. It returns an
// error only when writing fails: a board that cannot be read is recorded
// in the result (and MISSING.txt), as is ctx ending midway.
func Write(ctx context.Context, w io.Writer, opts Options) (*Result, error) {
	if opts.LogLines <= 0 {
		opts.LogLines = 200
	}

	if opts.CallTimeout <= 0 {
		opts.CallTimeout = 15 * time.Second
	}

	if opts.Progress == nil {
		opts.Progress = func(string) {}
	}

	g := &gatherer{opts: opts}
	g.timeline()

	if len(opts.Board) > 0 {
		g.add("board.yaml", opts.Board)
	}

	g.board(ctx)
	g.readme()

	if len(g.res.Missing) > 0 {
		var b strings.Builder

		b.WriteString("Not in this bundle, and why:\n\n")

		for _, m := range g.res.Missing {
			fmt.Fprintf(&b, "- %s: %s\n", m.Part, m.Why)
		}

		g.add("MISSING.txt", []byte(b.String()))
	}

	return &g.res, g.write(w)
}

func (g *gatherer) add(name string, data []byte) {
	g.files = append(g.files, file{name, []byte(fileio.Redact(string(data)))})
	g.res.Files = append(g.res.Files, name)
}

func (g *gatherer) missing(part, why string) {
	g.res.Missing = append(g.res.Missing, Missing{part, fileio.Redact(why)})
}

// timeline is the node's events from the recording, as text and as JSON
// lines liftoff replay reads.
func (g *gatherer) timeline() {
	if g.opts.Events == nil {
		g.missing("timeline", "no recording given (--events FILE; liftoff sim --record FILE writes one)")

		return
	}

	var (
		text  bytes.Buffer
		lines bytes.Buffer
		mine  []probe.Event
	)

	for _, e := range g.opts.Events {
		if e.Node != g.opts.Node {
			continue
		}

		mine = append(mine, e)

		fmt.Fprintln(&text, e)

		if line, err := e.MarshalLine(); err == nil {
			lines.Write(line)
		}
	}

	if len(mine) == 0 {
		g.missing("timeline", fmt.Sprintf("the recording %s has no events for %s", g.opts.EventsFrom, g.opts.Node))

		return
	}

	g.add("timeline.txt", text.Bytes())
	g.add("events.jsonl", lines.Bytes())

	// The same picture as liftoff check's HTML report, of this board
	// only, like the rest of the bundle.
	lab := probe.Fold(mine)
	g.add("timeline.svg", svg.Timeline(lab.Nodes, svg.Options{Now: lab.Last, Speed: g.opts.Speed,
		Title: "Bring-up timeline of " + g.opts.Node + " (" + g.opts.EventsFrom + ")"}))
}

// apiParts are what only the Talos API gives.
var apiParts = []string{"version", "services", "service logs", "dmesg", "resources"}

func (g *gatherer) board(ctx context.Context) {
	g.opts.Progress(fmt.Sprintf("connecting to %s (%s)", g.opts.Node, g.opts.Endpoint))

	cctx, cancel := context.WithTimeout(ctx, g.opts.CallTimeout)
	c, secure, err := probe.Connect(cctx, probe.Target{Node: g.opts.Node, Endpoint: g.opts.Endpoint, Talosconfig: g.opts.Talosconfig})

	cancel()

	if err != nil {
		why := fmt.Sprintf("the Talos API at %s did not answer: %v", g.opts.Endpoint, err)
		if ctx.Err() != nil {
			why = "interrupted before the board was reached"
		}

		g.res.Unreached = why

		for _, p := range apiParts {
			g.missing(p, why)
		}

		return
	}
	defer c.Close() //nolint:errcheck

	g.res.Reached, g.res.Mode = true, "maintenance mode (no client certificate: only what a reader may see)"
	if secure {
		g.res.Mode = "mutual TLS (the talosconfig)"
	}

	steps := []struct {
		part string
		f    func(context.Context, *client.Client) error
	}{
		{"version", g.version},
		{"services", g.services},
		{"dmesg", g.dmesg},
		{"resources", g.resources},
	}

	for _, s := range steps {
		if ctx.Err() != nil {
			g.missing(s.part, "interrupted (ctrl+c) before it was gathered")

			continue
		}

		if err := s.f(ctx, c); err != nil {
			g.missing(s.part, err.Error())
		}
	}
}

func (g *gatherer) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, g.opts.CallTimeout)
}

func (g *gatherer) version(ctx context.Context, c *client.Client) error {
	g.opts.Progress("version")

	cctx, cancel := g.call(ctx)
	defer cancel()

	resp, err := c.Version(cctx)
	if err != nil {
		return err
	}

	var b strings.Builder

	for _, m := range resp.GetMessages() {
		v := m.GetVersion()
		fmt.Fprintf(&b, "Talos %s (%s/%s, built with %s)\nplatform %s, mode %s\n", v.GetTag(), v.GetOs(), v.GetArch(), v.GetGoVersion(),
			m.GetPlatform().GetName(), m.GetPlatform().GetMode())
	}

	g.add("version.txt", []byte(b.String()))

	return nil
}

// services writes the service table and each service's recent log.
func (g *gatherer) services(ctx context.Context, c *client.Client) error {
	g.opts.Progress("services")

	cctx, cancel := g.call(ctx)
	resp, err := c.ServiceList(cctx)

	cancel()

	if err != nil {
		g.missing("service logs", "the service list did not come: "+err.Error())

		return err
	}

	var (
		table bytes.Buffer
		ids   []string
	)

	tw := tabwriter.NewWriter(&table, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tSTATE\tHEALTH\tRESTARTS\tLAST EVENT")

	var history strings.Builder

	for _, m := range resp.GetMessages() {
		for _, s := range m.GetServices() {
			ids = append(ids, s.GetId())

			h := s.GetHealth()
			health := "unhealthy"

			switch {
			case h.GetUnknown():
				health = "no health check"
			case h.GetHealthy():
				health = "healthy"
			}

			fmt.Fprintf(&history, "\n%s\n", s.GetId())

			for _, e := range s.GetEvents().GetEvents() {
				fmt.Fprintf(&history, "  %s  %-10s %s\n", e.GetTs().AsTime().UTC().Format(time.RFC3339), e.GetState(), e.GetMsg())
			}

			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", s.GetId(), s.GetState(), health, probe.Restarts(s.GetEvents().GetEvents()), probe.LastEvent(s))
		}
	}

	_ = tw.Flush()

	table.WriteString("\nEvents per service (Talos keeps the latest):\n")
	table.WriteString(history.String())
	g.add("services.txt", table.Bytes())

	for _, id := range ids {
		if ctx.Err() != nil {
			g.missing("logs/"+id+".log", "interrupted (ctrl+c) before it was gathered")

			continue
		}

		g.opts.Progress("logs " + id)

		cctx, cancel := g.call(ctx)
		text, err := drain(cctx, func(ctx context.Context) (recv, error) {
			return c.Logs(ctx, "system", common.ContainerDriver_CONTAINERD, id, false, int32(g.opts.LogLines))
		})

		cancel()

		if err != nil {
			g.missing("logs/"+id+".log", err.Error())

			continue
		}

		g.add("logs/"+id+".log", []byte(text))
	}

	return nil
}

func (g *gatherer) dmesg(ctx context.Context, c *client.Client) error {
	g.opts.Progress("dmesg")

	cctx, cancel := g.call(ctx)
	defer cancel()

	text, err := drain(cctx, func(ctx context.Context) (recv, error) { return c.Dmesg(ctx, false, false) })
	if err != nil {
		return err
	}

	g.add("dmesg.log", []byte(text))

	return nil
}

func (g *gatherer) resources(ctx context.Context, c *client.Client) error {
	for _, r := range resources {
		name := "resources/" + r.file + ".yaml"

		if ctx.Err() != nil {
			g.missing(name, "interrupted (ctrl+c) before it was gathered")

			continue
		}

		g.opts.Progress("resources " + r.file)

		cctx, cancel := g.call(ctx)
		list, err := c.COSI.List(cctx, resource.NewMetadata(r.ns, r.typ, "", resource.VersionUndefined))

		cancel()

		switch {
		case err != nil:
			g.missing(name, fmt.Sprintf("%s could not be read: %v", r.typ, err))

			continue
		case len(list.Items) == 0 && r.optional:
			g.add(name, fmt.Appendf(nil, "# no %s: Talos reports none (it does when something is wrong)\n", r.typ))

			continue
		case len(list.Items) == 0:
			g.missing(name, fmt.Sprintf("the board has no %s (not published yet, or not by this board)", r.typ))

			continue
		}

		var b bytes.Buffer

		for i, item := range list.Items {
			if i > 0 {
				b.WriteString("---\n")
			}

			out, err := resource.MarshalYAML(item)
			if err == nil {
				var data []byte
				if data, err = yaml.Marshal(out); err == nil {
					b.Write(data)
				}
			}

			if err != nil {
				fmt.Fprintf(&b, "# %s: %v\n", item.Metadata().ID(), err)
			}
		}

		g.add(name, b.Bytes())
	}

	return nil
}

// recv is a Talos data stream (logs, dmesg).
type recv interface {
	Recv() (*common.Data, error)
}

// drain reads a stream to its end.
func drain(ctx context.Context, open func(context.Context) (recv, error)) (string, error) {
	s, err := open(ctx)
	if err != nil {
		return "", err
	}

	var b strings.Builder

	for {
		d, err := s.Recv()
		if errors.Is(err, io.EOF) {
			return b.String(), nil
		}

		if err != nil {
			if b.Len() > 0 {
				return b.String() + fmt.Sprintf("\n# (cut short: %v)\n", err), nil
			}

			return "", err
		}

		b.Write(d.GetBytes())
	}
}

func (g *gatherer) readme() {
	var b strings.Builder

	fmt.Fprintf(&b, "liftoff support bundle for %s (%s)\n", g.opts.Node, g.opts.Endpoint)
	fmt.Fprintf(&b, "made %s by liftoff %s\n\n", time.Now().UTC().Format(time.RFC3339), g.opts.Version)

	if g.res.Reached {
		fmt.Fprintf(&b, "read through the Talos API in %s\n", g.res.Mode)
	} else {
		fmt.Fprintf(&b, "the board was not read: %s\n", g.res.Unreached)
	}

	if g.opts.EventsFrom != "" {
		fmt.Fprintf(&b, "timeline from %s\n", g.opts.EventsFrom)
	}

	b.WriteString(`
Secrets are redacted (keys, tokens, Tailscale auth keys, private keys);
the machine config is not included. Files:

`)

	for _, f := range g.res.Files {
		fmt.Fprintf(&b, "  %s\n", f)
	}

	if len(g.res.Missing) > 0 {
		b.WriteString("  MISSING.txt      what could not be gathered, and why\n")
	}

	g.files = append([]file{{"README.txt", []byte(b.String())}}, g.files...)
	g.res.Files = append([]string{"README.txt"}, g.res.Files...)
}

func (g *gatherer) write(w io.Writer) error {
	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	now := time.Now()
	dir := "liftoff-bundle-" + g.opts.Node + "/"

	for _, f := range g.files {
		if err := tw.WriteHeader(&tar.Header{Name: dir + f.name, Mode: 0o600, Size: int64(len(f.data)), ModTime: now, Typeflag: tar.TypeReg}); err != nil {
			return err
		}

		if _, err := tw.Write(f.data); err != nil {
			return err
		}
	}

	return errors.Join(tw.Close(), gz.Close())
}
