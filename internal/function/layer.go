package function

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Limits of layers as Lambda documents them.
const (
	MaxLayers = 5 // per function
	// MaxUnzipped bounds a function's package and its layers unpacked.
	MaxUnzipped = 262144000
	// MaxLayerNameLen is the longest layer name.
	MaxLayerNameLen = 140
)

// LayerRef is a layer version as a function's configuration holds it: what
// running the function needs even after the layer version is deleted.
type LayerRef struct {
	Arn        string `json:"arn"`
	CodeSha256 string `json:"code_sha256"`
	CodeSize   int64  `json:"code_size"`
	Unzipped   int64  `json:"unzipped"`
}

// LayerARN is a layer's ARN, or a layer version's when version > 0.
func LayerARN(region, account, name string, version int64) string {
	arn := "arn:aws:lambda:" + region + ":" + account + ":layer:" + name
	if version > 0 {
		arn += ":" + strconv.FormatInt(version, 10)
	}
	return arn
}

// LayerVersionRef is a parsed layer version ARN.
type LayerVersionRef struct {
	Region, Account, Name string
	Version               int64
}

// ErrInvalidLayerARN reports a malformed layer version ARN.
var ErrInvalidLayerARN = errors.New("invalid layer version arn")

// ParseLayerVersionARN parses arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION.
func ParseLayerVersionARN(arn string) (LayerVersionRef, error) {
	p := strings.Split(arn, ":")
	if len(p) != 8 || p[0] != "arn" || p[2] != "lambda" || p[5] != "layer" ||
		!validRegion(p[3]) || !validAccount(p[4]) || !ValidLayerName(p[6]) {
		return LayerVersionRef{}, fmt.Errorf("%w: %s", ErrInvalidLayerARN, arn)
	}
	v, err := strconv.ParseInt(p[7], 10, 64)
	if err != nil || v < 1 {
		return LayerVersionRef{}, fmt.Errorf("%w: %s", ErrInvalidLayerARN, arn)
	}
	return LayerVersionRef{Region: p[3], Account: p[4], Name: p[6], Version: v}, nil
}

// ValidLayerName reports whether s is a bare layer name: 1 to 140
// characters of [a-zA-Z0-9-_].
func ValidLayerName(s string) bool {
	if len(s) == 0 || len(s) > MaxLayerNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isNameChar(s[i]) {
			return false
		}
	}
	return true
}
