package lambdaapi

// PublishVersionInput is PublishVersion's body.
type PublishVersionInput struct {
	CodeSha256  *string `json:"CodeSha256,omitempty"`
	Description *string `json:"Description,omitempty"`
	RevisionId  *string `json:"RevisionId,omitempty"`
}

// ListVersionsByFunctionOutput is ListVersionsByFunction's answer.
type ListVersionsByFunctionOutput struct {
	Versions   []FunctionConfiguration `json:"Versions"`
	NextMarker string                  `json:"NextMarker,omitempty"`
}

// AliasRoutingConfiguration is an alias's RoutingConfig.
type AliasRoutingConfiguration struct {
	AdditionalVersionWeights map[string]float64 `json:"AdditionalVersionWeights,omitempty"`
}

// CreateAliasInput is CreateAlias's body.
type CreateAliasInput struct {
	Name            string                     `json:"Name"`
	FunctionVersion string                     `json:"FunctionVersion"`
	Description     *string                    `json:"Description,omitempty"`
	RoutingConfig   *AliasRoutingConfiguration `json:"RoutingConfig,omitempty"`
}

// UpdateAliasInput is UpdateAlias's body.
type UpdateAliasInput struct {
	FunctionVersion *string                    `json:"FunctionVersion,omitempty"`
	Description     *string                    `json:"Description,omitempty"`
	RoutingConfig   *AliasRoutingConfiguration `json:"RoutingConfig,omitempty"`
	RevisionId      *string                    `json:"RevisionId,omitempty"`
}

// AliasConfiguration is an alias as the alias operations answer it.
type AliasConfiguration struct {
	AliasArn        string                     `json:"AliasArn"`
	Name            string                     `json:"Name"`
	FunctionVersion string                     `json:"FunctionVersion"`
	Description     string                     `json:"Description"`
	RoutingConfig   *AliasRoutingConfiguration `json:"RoutingConfig,omitempty"`
	RevisionId      string                     `json:"RevisionId"`
}

// ListAliasesOutput is ListAliases's answer.
type ListAliasesOutput struct {
	Aliases    []AliasConfiguration `json:"Aliases"`
	NextMarker string               `json:"NextMarker,omitempty"`
}

// AddPermissionInput is AddPermission's body.
type AddPermissionInput struct {
	StatementId         string  `json:"StatementId"`
	Action              string  `json:"Action"`
	Principal           string  `json:"Principal"`
	SourceArn           *string `json:"SourceArn,omitempty"`
	SourceAccount       *string `json:"SourceAccount,omitempty"`
	EventSourceToken    *string `json:"EventSourceToken,omitempty"`
	RevisionId          *string `json:"RevisionId,omitempty"`
	PrincipalOrgID      *string `json:"PrincipalOrgID,omitempty"`
	FunctionUrlAuthType *string `json:"FunctionUrlAuthType,omitempty"`
	// InvokedViaFunctionUrl limits the statement to invocations through a
	// function URL (AWS API change of 2025-10-10).
	InvokedViaFunctionUrl *bool `json:"InvokedViaFunctionUrl,omitempty"`
}

// AddPermissionOutput is AddPermission's answer: the statement added, as
// a JSON string.
type AddPermissionOutput struct {
	Statement string `json:"Statement"`
}

// GetPolicyOutput is GetPolicy's answer: the policy document as a JSON
// string.
type GetPolicyOutput struct {
	Policy     string `json:"Policy"`
	RevisionId string `json:"RevisionId"`
}
