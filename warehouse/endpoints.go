package warehouse

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"
)

// telemetryAnswer is the ingest's answer: the configured handler, or 200 with the
// service's usual counts.
func (s *Server) telemetryAnswer() http.Handler {
	if s.cfg.telemetryHandler != nil {
		return s.cfg.telemetryHandler
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Every field is required, items too (always empty): an exporter that leaves one
		// out is refused, as by the service.
		var req struct {
			UploadTime *int64             `json:"uploadTime"`
			Items      *[]json.RawMessage `json:"items"`
			ProtoLogs  *[]string          `json:"protoLogs"`
		}
		dec := json.NewDecoder(r.Body)
		if err := dec.Decode(&req); err != nil || req.ProtoLogs == nil || req.UploadTime == nil || req.Items == nil || trailing(dec) {
			http.Error(w, `{"error":"malformed telemetry request"}`, http.StatusBadRequest)
			return
		}
		n := len(*req.ProtoLogs)
		writeJSON(w, map[string]any{"errors": []string{}, "numSuccess": n, "numProtoSuccess": n, "numRealtimeSuccess": n})
	})
}

// trailing reports whether dec's input holds more than the value it decoded, spaces
// aside: a body of one JSON object and then anything is malformed.
func trailing(dec *json.Decoder) bool {
	_, err := dec.Token()
	return !errors.Is(err, io.EOF)
}

// serveFeatureFlags answers the connector feature-flag endpoint.
func (s *Server) serveFeatureFlags(w http.ResponseWriter, _ *http.Request) {
	s.rec.mu.Lock()
	s.rec.flags++
	s.rec.mu.Unlock()
	writeJSON(w, map[string]any{
		"flags":       []map[string]string{{"name": TelemetryFlagName, "value": strconv.FormatBool(s.flag.Load())}},
		"ttl_seconds": ttlSeconds(s.cfg.flagTTL),
	})
}

// ttlSeconds is ttl in whole seconds, rounded up: a TTL under a second is one, not the 0
// that says none. A ttl of 0 or less says none.
func ttlSeconds(ttl time.Duration) int64 {
	if ttl <= 0 {
		return 0
	}
	return int64((ttl + time.Second - 1) / time.Second)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
