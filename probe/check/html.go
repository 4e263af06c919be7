package check

import (
	"fmt"
	"html/template"
	"io"
	"time"
)

// HTMLOptions add to the HTML report what the results alone lack.
type HTMLOptions struct {
	// Title is what was checked, e.g. "liftoff check --sim happy".
	Title string
	// Generated is when (shown as is; zero: not shown).
	Generated time.Time
	// Timeline is the bring-up as inline SVG (probe/svg); nil: the report
	// says why there is none (TimelineNote).
	Timeline     []byte
	TimelineNote string
}

// WriteHTML is the report as one self-contained page: the table of checks,
// each failure's why, evidence and fix, and the bring-up timeline as
// inline SVG. Inline CSS, no scripts, no fonts or images from anywhere: it
// opens offline, and its Content-Security-Policy forbids fetching anything.
func WriteHTML(w io.Writer, results []Result, o HTMLOptions) error {
	if o.Title == "" {
		o.Title = "liftoff check"
	}

	pass, fail, skip := Counts(results)

	type row struct {
		Result
		Icon, Class, Time string
	}

	rows := make([]row, 0, len(results))

	var failures []row

	for _, r := range results {
		rw := row{Result: r, Icon: icon[r.Status], Class: string(r.Status), Time: r.Duration.Round(time.Millisecond).String()}
		rows = append(rows, rw)

		if r.Status == Fail {
			failures = append(failures, rw)
		}
	}

	verdict := "every check passed"

	switch {
	case fail > 0:
		verdict = fmt.Sprintf("%d failed", fail)
	case pass == 0:
		verdict = "nothing passed"
	}

	data := struct {
		Title, Verdict, Counts, Generated, Note string
		Failed                                  bool
		Rows, Failures                          []row
		Timeline                                template.HTML
	}{
		Title:    o.Title,
		Verdict:  verdict,
		Counts:   fmt.Sprintf("%d of %d checks passed, %d failed, %d skipped", pass, len(results), fail, skip),
		Failed:   fail > 0,
		Rows:     rows,
		Failures: failures,
		Note:     o.TimelineNote,
		// The SVG is liftoff's own, every text in it escaped (probe/svg).
		Timeline: template.HTML(o.Timeline), //nolint:gosec // generated, escaped
	}

	if !o.Generated.IsZero() {
		data.Generated = o.Generated.UTC().Format("2006-01-02 15:04:05 UTC")
	}

	return page.Execute(w, data)
}

var page = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>{{.Title}}: {{.Verdict}}</title>
<style>
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2328; background: #fff; margin: 2rem auto; max-width: 1000px; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin: 0 0 .25rem; }
h2 { font-size: 1.15rem; margin: 2rem 0 .5rem; border-bottom: 1px solid #d1d9e0; padding-bottom: .25rem; }
h3 { font-size: 1rem; margin: 1.25rem 0 .25rem; }
.counts { font-weight: 600; }
.counts.failed { color: #cf222e; }
.counts.passed { color: #1a7f37; }
.meta { color: #59636e; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: .35rem .5rem; border-bottom: 1px solid #d1d9e0; }
th { background: #f6f8fa; }
td.result { white-space: nowrap; font-weight: 600; }
tr.pass td.result { color: #1a7f37; }
tr.fail td.result { color: #cf222e; }
tr.skip td.result { color: #59636e; }
tr.fail { background: #ffebe9; }
code, .evidence li { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; }
dl { margin: 0; }
dt { font-weight: 600; margin-top: .5rem; }
dd { margin: 0 0 0 1rem; }
dd.fix { color: #1a7f37; }
.evidence { margin: 0; padding-left: 1.25rem; }
.timeline { overflow-x: auto; }
.timeline svg { max-width: 100%; height: auto; }
footer { margin-top: 2rem; color: #59636e; font-size: 12px; }
</style>
</head>
<body>
<header>
<h1>{{.Title}}</h1>
<p class="counts {{if .Failed}}failed{{else}}passed{{end}}" id="counts">{{.Counts}}</p>
{{if .Generated}}<p class="meta">Generated {{.Generated}} by liftoff.</p>{{end}}
</header>

<section id="checks">
<h2>Checks</h2>
<table>
<thead><tr><th>Suite</th><th>Check</th><th>Result</th><th>Time</th><th>Summary</th></tr></thead>
<tbody>
{{range .Rows}}<tr class="{{.Class}}" data-check="{{.Name}}" data-status="{{.Status}}"><td>{{.Suite}}</td><td>{{.Name}}</td><td class="result">{{.Icon}}</td><td>{{.Time}}</td><td>{{.Summary}}</td></tr>
{{end}}</tbody>
</table>
</section>

{{if .Failures}}<section id="failures">
<h2>Why, and what to do</h2>
{{range .Failures}}<article class="failure" data-check="{{.Name}}">
<h3>✗ {{.Suite}}/{{.Name}}: {{.Summary}}</h3>
<dl>
{{if .Why}}<dt>Why</dt><dd class="why">{{.Why}}</dd>{{end}}
{{if .Evidence}}<dt>Evidence</dt><dd><ul class="evidence">{{range .Evidence}}<li>{{.}}</li>{{end}}</ul></dd>{{end}}
{{if .Fix}}<dt>Fix</dt><dd class="fix">{{.Fix}}</dd>{{end}}
</dl>
</article>
{{end}}</section>
{{end}}
<section id="timeline">
<h2>Bring-up timeline</h2>
{{if .Timeline}}<div class="timeline">{{.Timeline}}</div>{{else}}<p class="meta">{{.Note}}</p>{{end}}
</section>

<footer>One self-contained page: no scripts, no fonts or images from the network. The same checks as <code>liftoff check</code>'s table, JSON and JUnit reports.</footer>
</body>
</html>
`))
