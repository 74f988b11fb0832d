package runtimes

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// Version is the runtime version Lambda names in its INIT_START line and
// platform.initStart record, "<language>:<release>.v<N>" as the service
// writes it ("python:3.12.v18", "nodejs:20.v22", "provided:al2023.v47").
// Hearth has one version of each runtime, v1, the one whose VersionARN
// GetFunctionConfiguration reports. (The bare "provided" runtime is
// "provided.v1"; what Lambda names it is UNCONFIRMED.)
func (r Runtime) Version() string {
	i := strings.IndexAny(r.ID, ".0123456789")
	if i < 0 {
		return r.ID + ".v1"
	}
	release := strings.TrimSuffix(strings.TrimPrefix(r.ID[i:], "."), ".x")
	return r.ID[:i] + ":" + release + ".v1"
}

// VersionARN is the runtime's RuntimeVersionArn in region: AWS's form,
// arn:aws:lambda:REGION::runtime:<64 hex digits>, with a digest that stays
// the same for a runtime on every Hearth server.
func (r Runtime) VersionARN(region string) string {
	sum := sha256.Sum256([]byte("hearth runtime " + r.ID))
	return "arn:aws:lambda:" + region + "::runtime:" + hex.EncodeToString(sum[:])
}
