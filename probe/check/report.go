// Package check is the lab's acceptance suite: named checks that judge what
// the probes saw, with a verdict a person can act on.
package check

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"
)

// minSummary is the narrowest summary column worth wrapping into.
const minSummary = 16

// Status of one check.
type Status string

// Statuses.
const (
	Pass Status = "pass"
	Fail Status = "fail"
	Skip Status = "skip"
)

// Result is one check's verdict.
type Result struct {
	Suite    string        `json:"suite"`
	Name     string        `json:"name"`
	Status   Status        `json:"status"`
	Duration time.Duration `json:"durationNs"`
	// Summary is one line: what was measured, or why it failed/skipped.
	Summary string `json:"summary"`
	// Why, Evidence and Fix explain a failure like the troubleshoot view.
	Why      string   `json:"why,omitempty"`
	Evidence []string `json:"evidence,omitempty"`
	Fix      string   `json:"fix,omitempty"`
}

// Failed tells whether any result failed.
func Failed(results []Result) bool {
	for _, r := range results {
		if r.Status == Fail {
			return true
		}
	}

	return false
}

// Counts returns pass, fail, skip counts.
func Counts(results []Result) (pass, fail, skip int) {
	for _, r := range results {
		switch r.Status {
		case Pass:
			pass++
		case Fail:
			fail++
		case Skip:
			skip++
		}
	}

	return pass, fail, skip
}

var icon = map[Status]string{Pass: "✓ pass", Fail: "✗ FAIL", Skip: "- skip"}

// WriteTable is the table for a reader with no width limit (a file, a
// pipe): every summary on its row's one line.
func WriteTable(w io.Writer, results []Result) error { return WriteTableWidth(w, results, 0) }

// WriteTableWidth is the people's report, fitted to width columns: a
// summary too long for its column wraps at word boundaries onto lines of
// its own, indented to the column, never into the next row's columns. A
// width of 0 (or one too narrow to leave a usable column) does not wrap.
func WriteTableWidth(w io.Writer, results []Result, width int) error {
	rows := [][]string{{"SUITE", "CHECK", "RESULT", "TIME", "SUMMARY"}}
	for _, r := range results {
		rows = append(rows, []string{r.Suite, r.Name, icon[r.Status], r.Duration.Round(time.Millisecond).String(), r.Summary})
	}

	const gap = 2

	cols := make([]int, 4)
	for _, row := range rows {
		for i := range cols {
			cols[i] = max(cols[i], ansi.StringWidth(row[i]))
		}
	}

	indent := gap * len(cols)
	for _, c := range cols {
		indent += c
	}

	room := width - indent
	if width <= 0 || room < minSummary {
		room = 0
	}

	var b strings.Builder

	for _, row := range rows {
		for i, c := range cols {
			b.WriteString(row[i])
			b.WriteString(strings.Repeat(" ", c-ansi.StringWidth(row[i])+gap))
		}

		lines := []string{row[4]}
		if room > 0 {
			lines = strings.Split(ansi.Wrap(row[4], room, ""), "\n")
		}

		for i, l := range lines {
			if i > 0 {
				b.WriteString(strings.Repeat(" ", indent))
			}

			b.WriteString(strings.TrimRight(l, " "))
			b.WriteByte('\n')
		}
	}

	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}

	for _, r := range results {
		if r.Status != Fail {
			continue
		}

		fmt.Fprintf(w, "\n%s", hanging("✗ "+r.Suite+"/"+r.Name+": "+r.Summary, "  ", width))

		if r.Why != "" {
			fmt.Fprint(w, hanging("  why: "+r.Why, "    ", width))
		}

		for _, e := range r.Evidence {
			fmt.Fprint(w, hanging("  evidence: "+e, "    ", width))
		}

		if r.Fix != "" {
			fmt.Fprint(w, hanging("  fix: "+r.Fix, "    ", width))
		}
	}

	pass, fail, skip := Counts(results)
	// Not "N passed, N failed" alone on a line: CI tooling reads that shape
	// as a test runner's verdict.
	_, err := fmt.Fprintf(w, "\n%d of %d checks passed, %d failed, %d skipped\n", pass, len(results), fail, skip)

	return err
}

// hanging wraps s at width (0: not at all) at word boundaries, later lines
// indented, each line ended.
func hanging(s, indent string, width int) string {
	if width <= len(indent)+minSummary {
		return s + "\n"
	}

	lines := strings.Split(ansi.Wrap(s, width, ""), "\n")
	out := []string{strings.TrimRight(lines[0], " ")}

	if len(lines) > 1 {
		rest := ansi.Wrap(strings.Join(lines[1:], " "), width-len(indent), "")
		for _, l := range strings.Split(rest, "\n") {
			out = append(out, indent+strings.TrimRight(l, " "))
		}
	}

	return strings.Join(out, "\n") + "\n"
}

// WriteJSON is the machine-readable report.
func WriteJSON(w io.Writer, results []Result) error {
	pass, fail, skip := Counts(results)

	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")

	return enc.Encode(struct {
		Passed  int      `json:"passed"`
		Failed  int      `json:"failed"`
		Skipped int      `json:"skipped"`
		Results []Result `json:"results"`
	}{pass, fail, skip, results})
}

// JUnit XML, the shape CI systems read (Jenkins/GitLab/GitHub schema).
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitMessage `xml:"failure,omitempty"`
	Skipped   *junitMessage `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Body    string `xml:",chardata"`
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

// WriteJUnit writes results grouped by suite, in first-seen order.
func WriteJUnit(w io.Writer, results []Result) error {
	out := junitSuites{Name: "liftoff check"}

	var total time.Duration

	index := map[string]int{}

	for _, r := range results {
		i, ok := index[r.Suite]
		if !ok {
			i = len(out.Suites)
			index[r.Suite] = i
			out.Suites = append(out.Suites, junitSuite{Name: r.Suite})
		}

		s := &out.Suites[i]
		c := junitCase{Name: r.Name, Classname: "liftoff." + r.Suite, Time: seconds(r.Duration), SystemOut: r.Summary}

		switch r.Status {
		case Fail:
			c.Failure = &junitMessage{Message: r.Summary, Body: explain(r)}
			s.Failures++
			out.Failures++
		case Skip:
			c.Skipped = &junitMessage{Message: r.Summary}
			s.Skipped++
			out.Skipped++
		}

		s.Tests++
		out.Tests++
		s.Cases = append(s.Cases, c)

		d, _ := time.ParseDuration(s.Time + "s")
		s.Time = seconds(d + r.Duration)
		total += r.Duration
	}

	out.Time = seconds(total)

	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}

	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")

	if err := enc.Encode(out); err != nil {
		return err
	}

	_, err := io.WriteString(w, "\n")

	return err
}

func explain(r Result) string {
	var b strings.Builder

	if r.Why != "" {
		fmt.Fprintf(&b, "why: %s\n", r.Why)
	}

	for _, e := range r.Evidence {
		fmt.Fprintf(&b, "evidence: %s\n", e)
	}

	if r.Fix != "" {
		fmt.Fprintf(&b, "fix: %s\n", r.Fix)
	}

	return b.String()
}
