// Package tracing is tsskit's OpenTelemetry tracing: one trace per
// session, across the coordinator, the router and the server parties.
//
// Parties of a session share no request they could carry a trace context
// on (a server party learns of a session from an assignment on its pool
// stream, a router from envelopes), so the trace is named by the session:
// its trace id and the id of its root span are derived from the session id
// (SessionContext). The coordinator's session span is that root; every
// other component's spans are its children, whichever process or replica
// they run in.
//
// Tracing is off unless the standard OpenTelemetry variables ask for it
// (Setup): then spans go to an OTLP exporter.
package tracing

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Tracer is the tracer tsskit's spans come from (the global provider's:
// a no-op until Setup or a test installs one).
func Tracer() trace.Tracer { return otel.Tracer("github.com/rwadurian/tsskit") }

// Enabled reports whether the environment asks for traces: an OTLP
// endpoint is set (OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) or OTEL_TRACES_EXPORTER=otlp, and
// OTEL_SDK_DISABLED is not "true".
func Enabled() bool {
	if strings.EqualFold(os.Getenv("OTEL_SDK_DISABLED"), "true") || strings.EqualFold(os.Getenv("OTEL_TRACES_EXPORTER"), "none") {
		return false
	}
	return os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "" ||
		strings.EqualFold(os.Getenv("OTEL_TRACES_EXPORTER"), "otlp")
}

// Setup installs a tracer provider exporting over OTLP when Enabled, with
// service.name "tsskit-<service>" (OTEL_SERVICE_NAME and
// OTEL_RESOURCE_ATTRIBUTES override and add). The exporter reads the
// standard variables: endpoint, headers, TLS, timeout, and
// OTEL_EXPORTER_OTLP_PROTOCOL ("http/protobuf", the default, or "grpc").
// The returned function flushes and stops it; with tracing off it does
// nothing.
func Setup(ctx context.Context, service string) (func(context.Context) error, error) {
	if !Enabled() {
		return func(context.Context) error { return nil }, nil
	}
	proto := os.Getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if proto == "" {
		proto = os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	var exp sdktrace.SpanExporter
	var err error
	switch proto {
	case "", "http/protobuf":
		exp, err = otlptracehttp.New(ctx)
	case "grpc":
		exp, err = otlptracegrpc.New(ctx)
	default:
		return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL %q: want http/protobuf or grpc", proto)
	}
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP exporter: %w", err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(semconv.ServiceName("tsskit-"+service)))
	if err != nil && !errors.Is(err, resource.ErrPartialResource) && !errors.Is(err, resource.ErrSchemaURLConflict) {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	if env, err := resource.New(ctx, resource.WithFromEnv()); err == nil {
		if merged, err := resource.Merge(res, env); err == nil {
			res = merged
		}
	}
	tp := NewProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	return tp.Shutdown, nil
}

// NewProvider is a tracer provider with tsskit's id generator (session
// roots get their derived ids), for Setup and for tests with an
// in-memory exporter.
//
// Attribute values are cut at 256 bytes and counts capped: a failure
// reason a party reports, for one, is its own text.
func NewProvider(opts ...sdktrace.TracerProviderOption) *sdktrace.TracerProvider {
	limits := sdktrace.NewSpanLimits()
	limits.AttributeValueLengthLimit = 256
	limits.AttributeCountLimit = 32
	limits.EventCountLimit = 256
	limits.AttributePerEventCountLimit = 8
	return sdktrace.NewTracerProvider(append([]sdktrace.TracerProviderOption{sdktrace.WithIDGenerator(idGen{}), sdktrace.WithRawSpanLimits(limits)}, opts...)...)
}

// SessionIDs are the trace id and root span id of a session's trace.
func SessionIDs(sessionID string) (trace.TraceID, trace.SpanID) {
	h := sha256.Sum256([]byte("tsskit trace\x00" + sessionID))
	var tid trace.TraceID
	var sid trace.SpanID
	copy(tid[:], h[:16])
	copy(sid[:], h[16:24])
	return tid, sid
}

// SessionContext is ctx with the session's root span as remote parent:
// spans started from it join the session's trace.
func SessionContext(ctx context.Context, sessionID string) context.Context {
	tid, sid := SessionIDs(sessionID)
	return trace.ContextWithRemoteSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, Remote: true,
	}))
}

type rootKey struct{}

// StartSession starts the session's root span (the coordinator's), with
// the ids SessionIDs derives.
func StartSession(ctx context.Context, sessionID, kind string) (context.Context, trace.Span) {
	ctx = context.WithValue(ctx, rootKey{}, sessionID)
	return Tracer().Start(ctx, "tsskit.session "+kind, trace.WithNewRoot(), trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("tsskit.session.kind", kind)))
}

// idGen gives a session root span its derived ids and every other span
// random ones, from crypto/rand.
type idGen struct{}

func (idGen) NewIDs(ctx context.Context) (trace.TraceID, trace.SpanID) {
	if id, ok := ctx.Value(rootKey{}).(string); ok {
		return SessionIDs(id)
	}
	var tid trace.TraceID
	for !tid.IsValid() {
		_, _ = rand.Read(tid[:])
	}
	return tid, newSpanID()
}

func (idGen) NewSpanID(context.Context, trace.TraceID) trace.SpanID { return newSpanID() }

func newSpanID() trace.SpanID {
	var sid trace.SpanID
	for !sid.IsValid() {
		_, _ = rand.Read(sid[:])
	}
	return sid
}

// Fail marks span failed with code, reason and culprits.
func Fail(span trace.Span, code, reason string, culprits []string) {
	if len(culprits) > 16 {
		culprits = culprits[:16]
	}
	if len(reason) > 256 {
		reason = reason[:256] + "…"
	}
	if len(code) > 64 {
		code = code[:64]
	}
	span.SetAttributes(attribute.String("tsskit.failure.code", code), attribute.StringSlice("tsskit.failure.culprits", culprits))
	span.SetStatus(codes.Error, code+": "+reason)
}

// PartySpan is a party's seat in a session: a span under the session's
// root, with a child span per protocol round.
type PartySpan struct {
	mu    sync.Mutex
	ctx   context.Context
	span  trace.Span
	round trace.Span
	cur   int
}

// StartParty starts party's span in session sessionID's trace.
func StartParty(ctx context.Context, sessionID, party, kind string) *PartySpan {
	ctx, span := Tracer().Start(SessionContext(ctx, sessionID), "tsskit.party "+kind,
		trace.WithAttributes(attribute.String("tsskit.session.id", sessionID), attribute.String("tsskit.party", party),
			attribute.String("tsskit.session.kind", kind)))
	return &PartySpan{ctx: ctx, span: span}
}

// Round ends the running round's span and starts round r's, when r is
// later than the running one.
func (p *PartySpan) Round(r int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if r <= p.cur {
		return
	}
	if p.round != nil {
		p.round.End()
	}
	p.cur = r
	_, p.round = Tracer().Start(p.ctx, fmt.Sprintf("round %d", r), trace.WithAttributes(attribute.Int("tsskit.round", r)))
}

// Fail marks the seat failed: the engine's code and culprits when err
// carries them (an error with Code and Culprits methods or fields is
// read through the Failure interface), else its text.
func (p *PartySpan) Fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	code, culprits := "error", []string(nil)
	var f Failure
	if errors.As(err, &f) {
		code, culprits = f.FailureCode(), f.FailureCulprits()
	}
	p.span.RecordError(err)
	if p.round != nil {
		p.round.SetStatus(codes.Error, code)
	}
	Fail(p.span, code, err.Error(), culprits)
}

// End ends the round and seat spans.
func (p *PartySpan) End() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.round != nil {
		p.round.End()
		p.round = nil
	}
	p.span.End()
}

// Failure is an error that names its code and culprits (the engine's
// *party.Error does).
type Failure interface {
	error
	FailureCode() string
	FailureCulprits() []string
}
