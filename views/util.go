package views

import "strconv"

func itoa(n int) string { return strconv.Itoa(n) }

// plural is "1 message" or "3 messages".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}
