package lambdaapi

// Layer is a layer version in a function's configuration.
type Layer struct {
	Arn      string `json:"Arn"`
	CodeSize int64  `json:"CodeSize"`
}

// LayerVersionContentInput is PublishLayerVersion's Content; ZipFile
// arrives through the upload path, not here.
type LayerVersionContentInput struct {
	S3Bucket        *string `json:"S3Bucket"`
	S3Key           *string `json:"S3Key"`
	S3ObjectVersion *string `json:"S3ObjectVersion"`
}

// PublishLayerVersionInput is PublishLayerVersion's body.
type PublishLayerVersionInput struct {
	Description             *string                  `json:"Description"`
	Content                 LayerVersionContentInput `json:"Content"`
	CompatibleRuntimes      []string                 `json:"CompatibleRuntimes"`
	CompatibleArchitectures []string                 `json:"CompatibleArchitectures"`
	LicenseInfo             *string                  `json:"LicenseInfo"`
}

// LayerVersionContentOutput describes a layer version's package.
type LayerVersionContentOutput struct {
	Location   string `json:"Location"`
	CodeSha256 string `json:"CodeSha256"`
	CodeSize   int64  `json:"CodeSize"`
}

// LayerVersion is the answer of PublishLayerVersion, GetLayerVersion and
// GetLayerVersionByArn.
type LayerVersion struct {
	Content                 LayerVersionContentOutput `json:"Content"`
	LayerArn                string                    `json:"LayerArn"`
	LayerVersionArn         string                    `json:"LayerVersionArn"`
	Description             string                    `json:"Description"`
	CreatedDate             string                    `json:"CreatedDate"`
	Version                 int64                     `json:"Version"`
	CompatibleRuntimes      []string                  `json:"CompatibleRuntimes,omitempty"`
	CompatibleArchitectures []string                  `json:"CompatibleArchitectures,omitempty"`
	LicenseInfo             string                    `json:"LicenseInfo,omitempty"`
}

// LayerVersionsListItem is one version in ListLayerVersions and
// ListLayers.
type LayerVersionsListItem struct {
	LayerVersionArn         string   `json:"LayerVersionArn"`
	Version                 int64    `json:"Version"`
	Description             string   `json:"Description"`
	CreatedDate             string   `json:"CreatedDate"`
	CompatibleRuntimes      []string `json:"CompatibleRuntimes,omitempty"`
	CompatibleArchitectures []string `json:"CompatibleArchitectures,omitempty"`
	LicenseInfo             string   `json:"LicenseInfo,omitempty"`
}

// LayersListItem is one layer in ListLayers.
type LayersListItem struct {
	LayerName             string                `json:"LayerName"`
	LayerArn              string                `json:"LayerArn"`
	LatestMatchingVersion LayerVersionsListItem `json:"LatestMatchingVersion"`
}

// ListLayersOutput is ListLayers' response.
type ListLayersOutput struct {
	NextMarker string           `json:"NextMarker,omitempty"`
	Layers     []LayersListItem `json:"Layers"`
}

// ListLayerVersionsOutput is ListLayerVersions' response.
type ListLayerVersionsOutput struct {
	NextMarker    string                  `json:"NextMarker,omitempty"`
	LayerVersions []LayerVersionsListItem `json:"LayerVersions"`
}

// AddLayerVersionPermissionInput is AddLayerVersionPermission's body.
type AddLayerVersionPermissionInput struct {
	StatementId    string  `json:"StatementId"`
	Action         string  `json:"Action"`
	Principal      string  `json:"Principal"`
	OrganizationId *string `json:"OrganizationId"`
}

// AddLayerVersionPermissionOutput is its answer: the statement as JSON
// text, and the policy's new revision.
type AddLayerVersionPermissionOutput struct {
	Statement  string `json:"Statement"`
	RevisionId string `json:"RevisionId"`
}

// GetLayerVersionPolicyOutput is GetLayerVersionPolicy's answer.
type GetLayerVersionPolicyOutput struct {
	Policy     string `json:"Policy"`
	RevisionId string `json:"RevisionId"`
}

// Concurrency is the body of Put/GetFunctionConcurrency and GetFunction's
// Concurrency.
type Concurrency struct {
	ReservedConcurrentExecutions *int `json:"ReservedConcurrentExecutions,omitempty"`
}
