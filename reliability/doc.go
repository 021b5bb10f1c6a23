// Package reliability holds no code, only tests: they prove that nothing the telemetry
// path does can hurt a query or leak a secret. They drive the real databricks-telemetry
// driver against the local warehouse (package warehouse) while the warehouse injects
// faults into the telemetry, feature-flag and CloudFetch endpoints (and is killed
// mid-statement), run hundreds of goroutines over pools that open and close connections
// constantly, make telemetry's collaborators panic, and scan every exported payload and
// debug log line for secrets.
//
// docs/RELIABILITY.md lists each guarantee with the test that proves it. The fault
// matrix runs a short version in CI; go test ./reliability -run Matrix -soak=60s runs
// every fault for a minute.
package reliability
