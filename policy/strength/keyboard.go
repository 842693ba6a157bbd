package strength

import (
	"strings"
	"sync"
)

// keyboard is a layout as a graph: for each character, its neighbouring
// keys in a fixed order of directions ("" where there is no key), each key
// written as its unshifted then shifted character.
type keyboard struct {
	name      string
	neighbors map[rune][]string
	// shifted holds the characters typed with Shift.
	shifted map[rune]bool
	// starts is the number of characters a run can start on; degree is the
	// average number of neighbours a key has.
	starts int
	degree float64
}

// The layouts, as rows of keys. Each row of the typewriter layout sits a
// key further right, relative to the row above it, than the key grid: a
// key's upper neighbours are the key above and the one to its right.
var (
	qwertyRows = []string{
		"`~ 1! 2@ 3# 4$ 5% 6^ 7& 8* 9( 0) -_ =+",
		"qQ wW eE rR tT yY uU iI oO pP [{ ]} \\|",
		"aA sS dD fF gG hH jJ kK lL ;: '\"",
		"zZ xX cC vV bB nN mM ,< .> /?",
	}
	// typewriterOffsets are where each row starts, in keys.
	typewriterOffsets = []int{0, 1, 1, 1}
	// dvorakRows and qwertzRows are the other typewriter layouts people
	// walk along.
	dvorakRows = []string{
		"`~ 1! 2@ 3# 4$ 5% 6^ 7& 8* 9( 0) [{ ]}",
		"'\" ,< .> pP yY fF gG cC rR lL /? =+ \\|",
		"aA oO eE uU iI dD hH tT nN sS -_",
		";: qQ jJ kK xX bB mM wW vV zZ",
	}
	qwertzRows = []string{
		"^° 1! 2\" 3§ 4$ 5% 6& 7/ 8( 9) 0= ß? ´`",
		"qQ wW eE rR tT zZ uU iI oO pP üÜ +*",
		"aA sS dD fF gG hH jJ kK lL öÖ äÄ #'",
		"yY xX cC vV bB nN mM ,; .: -_",
	}
	// keypadRows is a numeric keypad; "_" is a gap.
	keypadRows = []string{
		"_ / * -",
		"7 8 9 +",
		"4 5 6",
		"1 2 3",
		"_ 0 .",
	}
)

var (
	keyboardsOnce sync.Once
	keyboards     []*keyboard
)

func loadKeyboards() []*keyboard {
	keyboardsOnce.Do(func() {
		slanted := [][2]int{{-1, 0}, {0, -1}, {1, -1}, {1, 0}, {0, 1}, {-1, 1}}
		aligned := [][2]int{{-1, 0}, {-1, -1}, {0, -1}, {1, -1}, {1, 0}, {1, 1}, {0, 1}, {-1, 1}}
		keyboards = []*keyboard{
			newKeyboard("qwerty", qwertyRows, typewriterOffsets, slanted),
			newKeyboard("dvorak", dvorakRows, typewriterOffsets, slanted),
			newKeyboard("qwertz", qwertzRows, typewriterOffsets, slanted),
			newKeyboard("keypad", keypadRows, make([]int, len(keypadRows)), aligned),
		}
	})
	return keyboards
}

func newKeyboard(name string, rows []string, offsets []int, directions [][2]int) *keyboard {
	type pos struct{ x, y int }
	at := map[pos]string{}
	for y, row := range rows {
		for c, key := range strings.Fields(row) {
			if key != "_" {
				at[pos{c + offsets[y], y}] = key
			}
		}
	}
	k := &keyboard{name: name, neighbors: map[rune][]string{}, shifted: map[rune]bool{}}
	for p, key := range at {
		var around []string
		for _, d := range directions {
			around = append(around, at[pos{p.x + d[0], p.y + d[1]}])
		}
		for i, r := range []rune(key) {
			k.neighbors[r] = around
			k.shifted[r] = i == 1
		}
	}
	k.count()
	return k
}

func (k *keyboard) count() {
	total := 0
	for _, around := range k.neighbors {
		for _, n := range around {
			if n != "" {
				total++
			}
		}
	}
	k.starts = len(k.neighbors)
	k.degree = float64(total) / float64(len(k.neighbors))
}

// spatialMatches finds runs of three or more neighbouring keys
// ("qwerty", "zxcvbnm,./", "7896"), counting the changes of direction and
// the shifted characters.
func spatialMatches(ms []Match, pw []rune) []Match {
	for _, kb := range loadKeyboards() {
		for i := 0; i < len(pw)-1; {
			j := i + 1
			lastDirection, turns, shifted := -1, 0, 0
			if kb.shifted[pw[i]] {
				shifted = 1
			}
			for {
				found := false
				if j < len(pw) {
					for dir, key := range kb.neighbors[pw[j-1]] {
						if key == "" {
							continue
						}
						if idx := strings.IndexRune(key, pw[j]); idx >= 0 {
							found = true
							if idx > 0 {
								shifted++
							}
							if dir != lastDirection {
								turns++
								lastDirection = dir
							}
							break
						}
					}
				}
				if found {
					j++
					continue
				}
				if j-i > 2 {
					ms = append(ms, Match{Pattern: PatternSpatial, I: i, J: j - 1, Token: string(pw[i:j]),
						Graph: kb.name, Turns: turns, Shifted: shifted})
				}
				i = j
				break
			}
		}
	}
	return ms
}
