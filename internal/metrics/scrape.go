package metrics

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Scrape is one parsed /metrics answer (for tests and tools).
type Scrape struct {
	Families map[string]*dto.MetricFamily
	Text     string
}

// Get scrapes url (a /metrics endpoint) and parses it.
func Get(url string) (*Scrape, error) {
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", url, resp.Status)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return Parse(string(b))
}

// Parse parses the Prometheus text format.
func Parse(text string) (*Scrape, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		return nil, err
	}
	return &Scrape{Families: fams, Text: text}, nil
}

// Value sums the samples of name whose labels include every pair in
// labels ("k=v"): a counter's or gauge's value, a histogram's count.
func (s *Scrape) Value(name string, labels ...string) float64 {
	f, ok := s.Families[name]
	if !ok {
		return 0
	}
	var sum float64
	for _, m := range f.Metric {
		if !hasLabels(m, labels) {
			continue
		}
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		}
	}
	return sum
}

// LabelValues lists the values label takes in name's samples, sorted.
func (s *Scrape) LabelValues(name, label string) []string {
	f, ok := s.Families[name]
	if !ok {
		return nil
	}
	seen := map[string]bool{}
	for _, m := range f.Metric {
		for _, l := range m.Label {
			if l.GetName() == label {
				seen[l.GetValue()] = true
			}
		}
	}
	var out []string
	for v := range seen {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

func hasLabels(m *dto.Metric, want []string) bool {
	for _, kv := range want {
		k, v, _ := strings.Cut(kv, "=")
		found := false
		for _, l := range m.Label {
			if l.GetName() == k && l.GetValue() == v {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
