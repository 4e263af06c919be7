package check

import (
	"fmt"
	"strings"
	"time"
)

// DefaultBudgetFlag is --ready-budget's default, in its own syntax.
var DefaultBudgetFlag = "nodes=" + DefaultReadyBudget.String() + ",spin=" + DefaultSpinBudget.String()

// ParseBudgets reads --ready-budget: "nodes=5m,spin=2m", either part
// alone, or a bare duration (the nodes' budget, as before). A part left
// out keeps the founding plan's default.
func ParseBudgets(s string) (nodes, spin time.Duration, err error) {
	nodes, spin = DefaultReadyBudget, DefaultSpinBudget

	if d, err := time.ParseDuration(strings.TrimSpace(s)); err == nil {
		if d <= 0 {
			return 0, 0, fmt.Errorf("--ready-budget %s: a budget must be positive", s)
		}

		return d, spin, nil
	}

	for part := range strings.SplitSeq(s, ",") {
		key, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		d, perr := time.ParseDuration(val)

		switch {
		case !ok || perr != nil:
			return 0, 0, fmt.Errorf("--ready-budget %q: want nodes=DURATION,spin=DURATION (e.g. %s) or one duration for the nodes", s, DefaultBudgetFlag)
		case d <= 0:
			return 0, 0, fmt.Errorf("--ready-budget %s: a budget must be positive", part)
		case key == "nodes":
			nodes = d
		case key == "spin":
			spin = d
		default:
			return 0, 0, fmt.Errorf("--ready-budget %s: no budget %q; the budgets are nodes (apply → Node Ready) and spin (the Spin pod answering)", part, key)
		}
	}

	return nodes, spin, nil
}
