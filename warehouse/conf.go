package warehouse

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// maxStatementTimeout is the largest statement_timeout Databricks SQL takes: 48 hours.
const maxStatementTimeout = 172800

// confParams are the other configuration parameters of Databricks SQL (besides ANSI_MODE
// and TIMEZONE, which the session applies): a SET of one is taken, its value checked as
// Databricks checks it (nil: any value). STATEMENT_TIMEOUT is applied; the others name
// what a local DuckDB has no use for (a result cache, Photon, file partitions).
var confParams = map[string]func(string) bool{
	"statement_timeout":            func(v string) bool { _, ok := parseStatementTimeout(v); return ok },
	"use_cached_result":            isConfBool,
	"enable_photon":                isConfBool,
	"read_only_external_metastore": isConfBool,
	"legacy_time_parser_policy": func(v string) bool {
		return strings.EqualFold(v, "EXCEPTION") || strings.EqualFold(v, "CORRECTED") || strings.EqualFold(v, "LEGACY")
	},
	"max_file_partition_bytes": nil,
	"query_tags":               nil,
}

// setConfRe matches SET name = value, the value bare or quoted.
var setConfRe = regexp.MustCompile(`(?i)^\s*SET\s+([a-z_]+)\s*=\s*(?:'([^']*)'|"([^"]*)"|([^\s;'"]+))\s*;?\s*$`)

// confSet reports whether stmt, a SET, sets one of confParams, which (lower case) and to
// what.
func confSet(stmt string) (name, value string, ok bool) {
	m := setConfRe.FindStringSubmatch(stmt)
	if m == nil {
		return "", "", false
	}
	name = strings.ToLower(m[1])
	if _, known := confParams[name]; !known {
		return "", "", false
	}
	return name, strings.TrimSpace(m[2] + m[3] + m[4]), true
}

// resetConfRe matches RESET, with what follows it (a parameter's name) or without.
var resetConfRe = regexp.MustCompile(`(?is)^\s*RESET(?:\s+(.*?))?\s*;?\s*$`)

// resetAll is what confReset returns for a RESET without a name: every parameter.
const resetAll = "*"

// confReset reports whether stmt is a RESET, and what it resets: the lower-case name of
// one of confParams, "timezone" or "ansi_mode" (under Databricks' or Spark's name), or
// resetAll. Spark takes the rest of the statement as the name, and a name it does not
// know ("TIME ZONE") resets nothing: what returns then is that name, lower-cased.
func confReset(stmt string) (name string, ok bool) {
	m := resetConfRe.FindStringSubmatch(stmt)
	if m == nil {
		return "", false
	}
	switch name = strings.ToLower(m[1]); name {
	case "":
		return resetAll, true
	case "timezone", "spark.sql.session.timezone":
		return "timezone", true
	case "ansi_mode", "spark.sql.ansi.enabled":
		return "ansi_mode", true
	}
	return name, true
}

// checkConf checks a value of the configuration parameter name (lower case).
func checkConf(name, value string) error {
	if valid := confParams[name]; valid != nil && !valid(value) {
		return &confError{name: strings.ToUpper(name), value: value}
	}
	return nil
}

// parseStatementTimeout reads STATEMENT_TIMEOUT: whole seconds from 0 (none) to 48 hours.
func parseStatementTimeout(v string) (time.Duration, bool) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 || n > maxStatementTimeout {
		return 0, false
	}
	return time.Duration(n) * time.Second, true
}

func isConfBool(v string) bool { return strings.EqualFold(v, "true") || strings.EqualFold(v, "false") }

// confError is a value a configuration parameter does not take, which Databricks reports
// as INVALID_CONF_VALUE.
type confError struct{ name, value string }

func (e *confError) Error() string {
	return fmt.Sprintf(`The value '%s' in the config "%s" is invalid.`, e.value, e.name)
}

// sessionStatementTimeout is the STATEMENT_TIMEOUT a session's configuration sets (0:
// none), and an error when its value is not one Databricks takes.
func sessionStatementTimeout(conf map[string]string) (time.Duration, error) {
	v, ok := confValue(conf, "statement_timeout")
	if !ok {
		return 0, nil
	}
	d, ok := parseStatementTimeout(v)
	if !ok {
		return 0, &confError{name: "STATEMENT_TIMEOUT", value: v}
	}
	return d, nil
}

// statementLimit is the timeout a statement runs under: the shorter of its own (the
// driver's queryTimeout) and its session's STATEMENT_TIMEOUT, 0 for none.
func statementLimit(own, session time.Duration) time.Duration {
	switch {
	case own <= 0:
		return session
	case session <= 0:
		return own
	}
	return min(own, session)
}
