package strength

import (
	"bytes"
	"compress/gzip"
	"embed"
	"io"
	"strings"
	"sync"
	"unicode/utf8"
)

// listFiles are the frequency lists, gzip-compressed, made from the
// @zxcvbn-ts language packages by `go tool task deps`
// (internal/buildlists).
//
//go:embed lists/*.txt.gz
var listFiles embed.FS

// listNames are the embedded lists in the order matches are reported.
var listNames = []string{DictPasswords, DictWikipedia, DictCommonWords, DictLastNames, DictFirstNames}

// wordLists are the decoded lists: for each, word → rank.
type wordLists struct {
	names []string
	ranks []map[string]int32
	// longest is the longest word in any list, in characters: no longer
	// stretch of a password needs looking up.
	longest int
}

var (
	listsOnce sync.Once
	lists     *wordLists
)

// loadLists decodes the lists on the first call; later calls share them.
func loadLists() *wordLists {
	listsOnce.Do(func() { lists = decodeLists() })
	return lists
}

func decodeLists() *wordLists {
	wl := &wordLists{names: listNames}
	for _, name := range listNames {
		ranks, longest := decodeList(name)
		wl.ranks = append(wl.ranks, ranks)
		wl.longest = max(wl.longest, longest)
	}
	return wl
}

// decodeList reads one list. The map's keys share the decompressed text's
// memory. A list marked #unranked (alphabetical, like the first names)
// gives every word the list's middle rank: an attacker with it tries half
// of it on average.
func decodeList(name string) (map[string]int32, int) {
	f, err := listFiles.Open("lists/" + name + ".txt.gz")
	if err != nil {
		panic("strength: list " + name + " is not embedded; run `go tool task deps`")
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		panic("strength: list " + name + ": " + err.Error())
	}
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, zr); err != nil {
		panic("strength: list " + name + ": " + err.Error())
	}
	text := buf.String()
	unranked := strings.HasPrefix(text, "#unranked\n")
	if unranked {
		text = text[len("#unranked\n"):]
	}
	n := strings.Count(text, "\n")
	ranks := make(map[string]int32, n)
	longest := 0
	rank := int32(0)
	for len(text) > 0 {
		i := strings.IndexByte(text, '\n')
		if i < 0 {
			i = len(text)
		}
		w := text[:i]
		text = text[min(i+1, len(text)):]
		if _, dup := ranks[w]; dup || w == "" {
			continue
		}
		rank++
		ranks[w] = rank
		longest = max(longest, utf8.RuneCountInString(w))
	}
	if unranked {
		middle := (rank + 1) / 2
		for w := range ranks {
			ranks[w] = middle
		}
	}
	return ranks, longest
}
