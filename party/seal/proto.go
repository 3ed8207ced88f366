package seal

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// Field numbers of tsskit.v1.Envelope (proto/tsskit/v1/common.proto).
const (
	fieldSessionID = 1
	fieldFrom      = 2
	fieldTo        = 3
	fieldRound     = 4
	fieldSenderSeq = 5
	fieldPayload   = 6
	fieldSignature = 7
	fieldSeq       = 8
)

// MarshalProto encodes e as the protobuf message tsskit.v1.Envelope, the
// form the router carries. It is hand-written over protowire so that the
// wasm build, which hands envelopes to JavaScript in this form, does not
// carry the protobuf runtime. Fields are written in number order and zero
// values are omitted, as the generated code does.
func (e *Envelope) MarshalProto() ([]byte, error) {
	if err := e.checkSizes(); err != nil {
		return nil, err
	}
	b := make([]byte, 0, len(e.Payload)+len(e.Signature)+64+len(e.SessionID)+len(e.From)+len(e.To))
	str := func(num protowire.Number, s string) {
		if s != "" {
			b = protowire.AppendTag(b, num, protowire.BytesType)
			b = protowire.AppendString(b, s)
		}
	}
	varint := func(num protowire.Number, v uint64) {
		if v != 0 {
			b = protowire.AppendTag(b, num, protowire.VarintType)
			b = protowire.AppendVarint(b, v)
		}
	}
	bytes := func(num protowire.Number, v []byte) {
		if len(v) > 0 {
			b = protowire.AppendTag(b, num, protowire.BytesType)
			b = protowire.AppendBytes(b, v)
		}
	}
	str(fieldSessionID, e.SessionID)
	str(fieldFrom, e.From)
	str(fieldTo, e.To)
	varint(fieldRound, uint64(e.Round))
	varint(fieldSenderSeq, e.SenderSeq)
	bytes(fieldPayload, e.Payload)
	bytes(fieldSignature, e.Signature)
	varint(fieldSeq, e.Seq)
	return b, nil
}

// UnmarshalProto decodes a tsskit.v1.Envelope. Unknown fields are skipped
// (a newer router may add some); wrong wire types, truncation and
// oversized fields are errors.
func UnmarshalProto(data []byte) (*Envelope, error) {
	if len(data) > MaxEnvelope {
		return nil, &Error{Code: CodeMalformed, Err: fmt.Errorf("envelope is %d bytes, the limit is %d", len(data), MaxEnvelope)}
	}
	e := &Envelope{}
	for len(data) > 0 {
		num, typ, n := protowire.ConsumeTag(data)
		if n < 0 {
			return nil, protoErr(protowire.ParseError(n))
		}
		data = data[n:]
		want, known := protowire.BytesType, true
		switch num {
		case fieldRound, fieldSenderSeq, fieldSeq:
			want = protowire.VarintType
		case fieldSessionID, fieldFrom, fieldTo, fieldPayload, fieldSignature:
		default:
			known = false
		}
		if !known {
			n = protowire.ConsumeFieldValue(num, typ, data)
			if n < 0 {
				return nil, protoErr(protowire.ParseError(n))
			}
			data = data[n:]
			continue
		}
		if typ != want {
			return nil, protoErr(fmt.Errorf("field %d has wire type %d", num, typ))
		}
		switch typ {
		case protowire.VarintType:
			v, n := protowire.ConsumeVarint(data)
			if n < 0 {
				return nil, protoErr(protowire.ParseError(n))
			}
			data = data[n:]
			switch num {
			case fieldRound:
				if v > 1<<32-1 {
					return nil, protoErr(errors.New("round overflows uint32"))
				}
				e.Round = uint32(v)
			case fieldSenderSeq:
				e.SenderSeq = v
			case fieldSeq:
				e.Seq = v
			}
		case protowire.BytesType:
			v, n := protowire.ConsumeBytes(data)
			if n < 0 {
				return nil, protoErr(protowire.ParseError(n))
			}
			data = data[n:]
			switch num {
			case fieldSessionID:
				e.SessionID = string(v)
			case fieldFrom:
				e.From = string(v)
			case fieldTo:
				e.To = string(v)
			case fieldPayload:
				e.Payload = append([]byte(nil), v...)
			case fieldSignature:
				e.Signature = append([]byte(nil), v...)
			}
		}
	}
	if err := e.checkSizes(); err != nil {
		return nil, err
	}
	return e, nil
}

func protoErr(err error) error {
	return &Error{Code: CodeMalformed, Err: fmt.Errorf("envelope protobuf: %w", err)}
}
