package storetest

import (
	"reflect"
	"slices"

	"github.com/cqrs-local/cqrs-signin/storage"
)

// Uncovered walks storage.Engine by reflection and names its methods that
// no case in cs covers, and the names cs claim to cover that are not
// methods of it (a renamed or removed method).
func Uncovered(cs []Case) (missing, unknown []string) {
	iface := reflect.TypeFor[storage.Engine]()
	covered := map[string]bool{}
	for _, c := range cs {
		for _, m := range c.Covers {
			covered[m] = true
			if _, ok := iface.MethodByName(m); !ok && !slices.Contains(unknown, m) {
				unknown = append(unknown, m)
			}
		}
	}
	for i := range iface.NumMethod() {
		if m := iface.Method(i).Name; !covered[m] {
			missing = append(missing, m)
		}
	}
	return missing, unknown
}
