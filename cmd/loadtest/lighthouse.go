package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// lighthouseReport is the part of Lighthouse's JSON report printed here.
type lighthouseReport struct {
	LighthouseVersion string `json:"lighthouseVersion"`
	ConfigSettings    struct {
		FormFactor       string `json:"formFactor"`
		ThrottlingMethod string `json:"throttlingMethod"`
	} `json:"configSettings"`
	Categories map[string]struct {
		Score     *float64 `json:"score"`
		AuditRefs []struct {
			ID     string  `json:"id"`
			Weight float64 `json:"weight"`
		} `json:"auditRefs"`
	} `json:"categories"`
	Audits map[string]struct {
		Title        string   `json:"title"`
		Score        *float64 `json:"score"`
		DisplayValue string   `json:"displayValue"`
	} `json:"audits"`
}

// measureLighthouse audits the Login page of a set-up app with Lighthouse
// (the npm dev dependency, mobile with its simulated throttling, the
// default) in the machine's Chromium, and prints each category's score,
// the performance metrics and every weighted audit that fell short.
func measureLighthouse(cfg config) error {
	srv, chromium, dir, stop, err := setUpForBrowser(cfg, "cqrs-lighthouse-")
	if err != nil {
		return err
	}
	defer stop()
	out := filepath.Join(dir, "report.json")
	cmd := exec.Command("npx", "--no-install", "lighthouse", srv.base+"/login", "--quiet", "--output=json", "--output-path="+out,
		"--chrome-flags=--headless=new --no-sandbox --user-data-dir="+filepath.Join(dir, "profile"))
	cmd.Env = append(os.Environ(), "CHROME_PATH="+chromium)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("lighthouse (npm's dev dependency: run `go tool task deps` first): %w", err)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		return err
	}
	var r lighthouseReport
	if err := json.Unmarshal(raw, &r); err != nil {
		return err
	}
	fmt.Printf("Lighthouse %s on the Login page (%s, %s throttling), Chromium (%s)\n", r.LighthouseVersion,
		r.ConfigSettings.FormFactor, r.ConfigSettings.ThrottlingMethod, chromium)
	names := make([]string, 0, len(r.Categories))
	for name := range r.Categories {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if s := r.Categories[name].Score; s != nil {
			fmt.Printf("  %-16s %3.0f\n", name, *s*100)
		}
	}
	for _, id := range []string{"first-contentful-paint", "largest-contentful-paint", "speed-index", "total-blocking-time", "cumulative-layout-shift"} {
		if a, ok := r.Audits[id]; ok && a.Score != nil {
			fmt.Printf("  %-26s %-8s score %.2f\n", id, a.DisplayValue, *a.Score)
		}
	}
	var short []string
	for _, name := range names {
		for _, ref := range r.Categories[name].AuditRefs {
			if a := r.Audits[ref.ID]; ref.Weight > 0 && a.Score != nil && *a.Score < 1 {
				short = append(short, fmt.Sprintf("  %s: %s (%s) score %.2f %s", name, ref.ID, a.Title, *a.Score, a.DisplayValue))
			}
		}
	}
	if len(short) > 0 {
		fmt.Println("weighted audits below full marks:")
		fmt.Println(strings.Join(short, "\n"))
	}
	return nil
}
