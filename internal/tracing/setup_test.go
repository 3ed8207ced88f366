package tracing_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"go.opentelemetry.io/otel"

	"github.com/rwadurian/tsskit/internal/tracing"
)

// With the standard variables set, Setup exports over OTLP/HTTP to the
// endpoint they name; without them it installs nothing.
func TestSetupFromEnv(t *testing.T) {
	for _, k := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_TRACES_EXPORTER", "OTEL_SDK_DISABLED", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		t.Setenv(k, "")
	}
	if tracing.Enabled() {
		t.Fatal("enabled with no OTEL_* variable")
	}
	prev := otel.GetTracerProvider()
	defer otel.SetTracerProvider(prev)
	var got atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.URL.Path == "/v1/traces" && r.Header.Get("Content-Type") == "application/x-protobuf" && len(b) > 0 {
			got.Add(1)
		}
		w.WriteHeader(200)
	}))
	defer srv.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
	if !tracing.Enabled() {
		t.Fatal("not enabled with an endpoint")
	}
	shutdown, err := tracing.Setup(context.Background(), "test")
	if err != nil {
		t.Fatal(err)
	}
	_, span := tracing.StartSession(context.Background(), "s-1", "sign")
	span.End()
	if err := shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got.Load() == 0 {
		t.Fatal("no OTLP export reached the endpoint")
	}
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "carrier-pigeon")
	if _, err := tracing.Setup(context.Background(), "test"); err == nil {
		t.Fatal("an unknown protocol was accepted")
	}
	t.Setenv("OTEL_SDK_DISABLED", "true")
	if tracing.Enabled() {
		t.Fatal("enabled with OTEL_SDK_DISABLED=true")
	}
}
