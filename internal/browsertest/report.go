package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/liftoff-lab/liftoff/probe/check"
)

// CheckReport opens liftoff check's HTML report at path in chromium and
// checks that it renders with a quiet console, fetches nothing, shows
// every result as the check said it (the table, each failure's why,
// evidence and fix, the counts), and draws a timeline of boards boards.
func CheckReport(t *testing.T, chromium, path string, results []check.Result, boards int) {
	t.Helper()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	page, err := Open(ctx, chromium, t.TempDir(), "file://"+path,
		`Array.from(document.querySelectorAll("#checks tbody tr")).map(r => [r.dataset.check, r.dataset.status, r.cells[4].innerText])`,
		`Array.from(document.querySelectorAll("article.failure")).map(a => a.innerText)`,
		`(() => { const s = document.querySelector("svg.liftoff-timeline"); if (!s) return null;
		   const r = s.getBoundingClientRect(); return [r.width, r.height, s.querySelectorAll("g.board").length, s.querySelectorAll("rect.phase").length] })()`,
	)
	if err != nil {
		t.Fatal(err)
	}

	if len(page.Console) > 0 {
		t.Errorf("the browser's console: %q", page.Console)
	}

	for _, u := range page.Requests {
		if u != "file://"+path {
			t.Errorf("the page fetched %s", u)
		}
	}

	var rows [][3]string
	if err := json.Unmarshal(page.Values[0], &rows); err != nil {
		t.Fatal(err)
	}

	if len(rows) != len(results) {
		t.Fatalf("%d rows shown for %d results", len(rows), len(results))
	}

	for i, r := range results {
		if rows[i] != [3]string{r.Name, string(r.Status), r.Summary} {
			t.Errorf("row %d shows %q, the check said %q %q %q", i+1, rows[i], r.Name, r.Status, r.Summary)
		}
	}

	var failures []string
	if err := json.Unmarshal(page.Values[1], &failures); err != nil {
		t.Fatal(err)
	}

	i := 0

	for _, r := range results {
		if r.Status != check.Fail {
			continue
		}

		if i >= len(failures) {
			t.Fatalf("%s failed and is not explained", r.Name)
		}

		for _, want := range append([]string{r.Name, r.Summary, r.Why, r.Fix}, r.Evidence...) {
			if !strings.Contains(failures[i], strings.TrimSpace(want)) {
				t.Errorf("%s's explanation does not show %q:\n%s", r.Name, want, failures[i])
			}
		}

		i++
	}

	if i != len(failures) {
		t.Errorf("%d failures explained, %d checks failed", len(failures), i)
	}

	pass, fail, skip := check.Counts(results)
	if want := fmt.Sprintf("%d of %d checks passed, %d failed, %d skipped", pass, len(results), fail, skip); !strings.Contains(page.Text, want) {
		t.Errorf("the page does not say %q:\n%s", want, page.Text)
	}

	var pic []float64
	if err := json.Unmarshal(page.Values[2], &pic); err != nil || len(pic) != 4 {
		t.Fatalf("no timeline picture on the page: %s (%v)", page.Values[2], err)
	}

	if pic[0] < 400 || pic[1] < 100 || int(pic[2]) != boards || pic[3] < float64(3*boards) {
		t.Errorf("the timeline renders %v×%v px with %v boards and %v phase segments; want a real picture of %d boards", pic[0], pic[1], pic[2], pic[3], boards)
	}
}
