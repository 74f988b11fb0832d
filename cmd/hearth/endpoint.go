package main

import "flag"

// defaultEndpoint is where `hearth server` listens by default.
const defaultEndpoint = "http://127.0.0.1:9001"

// endpointFlag defines --endpoint-url on fs. Its empty default means
// "resolve from the environment" (resolveEndpoint).
func endpointFlag(fs *flag.FlagSet) *string {
	return fs.String("endpoint-url", "", "Hearth server URL (default: $HEARTH_ENDPOINT_URL, $AWS_ENDPOINT_URL_LAMBDA, $AWS_ENDPOINT_URL, then "+defaultEndpoint+")")
}

// resolveEndpoint picks the server URL: the --endpoint-url flag, then
// HEARTH_ENDPOINT_URL, then the variables every AWS tool reads
// (AWS_ENDPOINT_URL_LAMBDA, the service-specific one, before
// AWS_ENDPOINT_URL), then the server's default address. An empty variable
// counts as unset.
func resolveEndpoint(flagValue string, lookup func(string) (string, bool)) string {
	if flagValue != "" {
		return flagValue
	}
	for _, key := range []string{"HEARTH_ENDPOINT_URL", "AWS_ENDPOINT_URL_LAMBDA", "AWS_ENDPOINT_URL"} {
		if v, ok := lookup(key); ok && v != "" {
			return v
		}
	}
	return defaultEndpoint
}
