package check

import (
	"bytes"
	"strings"
	"testing"
)

func TestHTMLExplainsFailures(t *testing.T) {
	results := append([]Result{}, sample...)
	results = append(results, Result{Suite: "wasm-integration", Name: "spin-runtime-deploy", Status: Fail,
		Summary: `<script>alert("x")</script>`, Why: "a & b", Evidence: []string{"<img src=x>"}, Fix: "do <this>"})

	var b bytes.Buffer
	if err := WriteHTML(&b, results, HTMLOptions{Title: "liftoff check --sim happy", Timeline: []byte(`<svg class="liftoff-timeline"></svg>`)}); err != nil {
		t.Fatal(err)
	}

	page := b.String()

	for _, want := range []string{
		"<!DOCTYPE html>", "liftoff check --sim happy",
		"1 of 4 checks passed, 2 failed, 1 skipped",
		`data-check="extension-isolation" data-status="fail"`, "✗ FAIL", "✓ pass", "- skip",
		"every node with tailscale is a subnet router", "pi-1: drbd spin tailscale zfs", "give pi-1 the compute image",
		`<svg class="liftoff-timeline"></svg>`,
		"Content-Security-Policy", "default-src 'none'",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}

	// What the checks say is text, never markup.
	for _, bad := range []string{"<script>alert", "<img src=x>", "do <this>"} {
		if strings.Contains(page, bad) {
			t.Errorf("the page carries %q unescaped", bad)
		}
	}

	// Self-contained: nothing to fetch.
	for _, bad := range []string{"<script", "<link", "<img", ` src="`, ` href="`, "@import", "url("} {
		if strings.Contains(page, bad) {
			t.Errorf("the page holds %q", bad)
		}
	}
}

func TestHTMLWithoutATimelineSaysWhy(t *testing.T) {
	var b bytes.Buffer
	if err := WriteHTML(&b, sample[:1], HTMLOptions{TimelineNote: "No bring-up was watched"}); err != nil {
		t.Fatal(err)
	}

	if page := b.String(); !strings.Contains(page, "No bring-up was watched") || strings.Contains(page, "<svg") || !strings.Contains(page, "1 of 1 checks passed") {
		t.Errorf("page:\n%s", page)
	}
}
