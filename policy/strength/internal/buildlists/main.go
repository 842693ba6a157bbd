// Command buildlists turns the frequency lists of the @zxcvbn-ts language
// packages (MIT, installed by npm into node_modules) into the compressed
// word lists policy/strength embeds: one lower-case word a line, most
// frequent first, each list cut to the length the estimator uses. `go tool
// task deps` runs it; its output is not committed.
//
//	go run ./policy/strength/internal/buildlists [-node-modules node_modules] [-out policy/strength/lists]
package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// list is one frequency list: where it is in node_modules, the name the
// estimator knows it by, and how many of its words to keep (0: all).
type list struct {
	source string
	name   string
	keep   int
	// ranked is false for a list in alphabetical order; the estimator then
	// gives every word the same rank (see strength.loadLists).
	ranked bool
}

var lists = []list{
	{"@zxcvbn-ts/language-common/src/passwords.json", "passwords", 0, true},
	{"@zxcvbn-ts/language-en/src/wikipedia.json", "wikipedia", 0, true},
	// Words from English film and television subtitles; the least frequent
	// half adds memory more than it changes an estimate.
	{"@zxcvbn-ts/language-en/src/commonWords.json", "common-words", 30000, true},
	{"@zxcvbn-ts/language-en/src/lastnames.json", "last-names", 10000, true},
	{"@zxcvbn-ts/language-en/src/firstnames.json", "first-names", 0, false},
}

func main() {
	nodeModules := flag.String("node-modules", "node_modules", "the npm packages' directory")
	out := flag.String("out", filepath.Join("policy", "strength", "lists"), "where to write the lists")
	flag.Parse()
	if err := build(*nodeModules, *out); err != nil {
		fmt.Fprintln(os.Stderr, "buildlists:", err)
		os.Exit(1)
	}
}

func build(nodeModules, out string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	for _, l := range lists {
		raw, err := os.ReadFile(filepath.Join(nodeModules, filepath.FromSlash(l.source)))
		if err != nil {
			return err
		}
		var words []string
		if err := json.Unmarshal(raw, &words); err != nil {
			return fmt.Errorf("%s: %w", l.source, err)
		}
		seen := make(map[string]bool, len(words))
		var text bytes.Buffer
		if !l.ranked {
			text.WriteString("#unranked\n")
		}
		kept := 0
		for _, w := range words {
			w = strings.ToLower(strings.TrimSpace(w))
			if w == "" || seen[w] || strings.ContainsAny(w, "\n\r") {
				continue
			}
			seen[w] = true
			text.WriteString(w)
			text.WriteByte('\n')
			if kept++; l.keep > 0 && kept == l.keep {
				break
			}
		}
		var gz bytes.Buffer
		zw, err := gzip.NewWriterLevel(&gz, gzip.BestCompression)
		if err != nil {
			return err
		}
		// No name or time in the header: the same input gives the same bytes.
		if _, err := zw.Write(text.Bytes()); err != nil {
			return err
		}
		if err := zw.Close(); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(out, l.name+".txt.gz"), gz.Bytes(), 0o644); err != nil {
			return err
		}
		fmt.Printf("%s: %d words, %d bytes compressed\n", l.name, kept, gz.Len())
	}
	return nil
}
