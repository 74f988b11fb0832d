//go:build !linux

package process

import "errors"

func optNamespaces() bool { return false }

func startInOptNamespace(*env, string, func()) error {
	return errors.New("mount namespaces need Linux")
}
