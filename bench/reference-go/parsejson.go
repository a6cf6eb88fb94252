package main

// The other way to read a relayed message, kept to measure against the
// scanner (-parse json, and BenchmarkParse* in scan_test.go): encoding/json
// into a struct of only the members the relay reads, json.RawMessage for
// the rest of their values, which validates the whole message. It cannot
// say where the recipient member is, so a loose scan finds the span to cut
// (a small part of the cost). Its key matching is case-insensitive
// ("Recipient" would do), one more reason it is not the default.

import "encoding/json"

type jsonTop struct {
	Type         *string         `json:"type"`
	Recipient    json.RawMessage `json:"recipient"`
	Sender       json.RawMessage `json:"sender"`
	TransferMode json.RawMessage `json:"transferMode"`
}

func parseJSON(b []byte) (scanResult, scanErr) {
	var t jsonTop
	if err := json.Unmarshal(b, &t); err != nil {
		if _, ok := err.(*json.UnmarshalTypeError); !ok {
			return scanResult{}, scanSyntax
		}
		// valid JSON that is not an object, or a "type" that is no string:
		// the scan below says which
	}
	return scanMessage(b, false)
}
