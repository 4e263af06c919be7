package plan

import (
	"os"
	"testing"
)

// FuzzParseValidate: any bytes either fail to parse with an error, or give
// a plan whose validation, marshalling and re-parsing never panic and agree.
func FuzzParseValidate(f *testing.F) {
	if ex, err := os.ReadFile("../../examples/lab.yaml"); err == nil {
		f.Add(ex)
	}

	f.Add([]byte(good))
	f.Add([]byte("cluster: {name: x}\nboards: [{name: a, address: '::1', model: amd64, machine: worker, role: gateway}]"))
	f.Add([]byte("network: {podCIDR: 10.0.0.0/8, serviceCIDR: 10.0.0.0/9}"))

	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data)
		if err != nil {
			return
		}

		first := len(p.Validate().Errors())

		out, err := p.Marshal()
		if err != nil {
			t.Fatalf("a parsed plan does not marshal: %v", err)
		}

		q, err := Parse(out)
		if err != nil {
			t.Fatalf("a marshalled plan does not parse: %v\n%s", err, out)
		}

		if again := len(q.Validate().Errors()); again != first {
			t.Fatalf("validation changed across a round trip: %d → %d errors\n%s", first, again, out)
		}
	})
}
