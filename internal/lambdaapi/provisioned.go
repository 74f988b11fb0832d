package lambdaapi

// PutProvisionedConcurrencyConfigInput is PutProvisionedConcurrencyConfig's
// body.
type PutProvisionedConcurrencyConfigInput struct {
	ProvisionedConcurrentExecutions *int `json:"ProvisionedConcurrentExecutions"`
}

// ProvisionedConcurrencyConfig is the output of Put and
// GetProvisionedConcurrencyConfig. LastModified is a string timestamp.
type ProvisionedConcurrencyConfig struct {
	RequestedProvisionedConcurrentExecutions int    `json:"RequestedProvisionedConcurrentExecutions"`
	AllocatedProvisionedConcurrentExecutions int    `json:"AllocatedProvisionedConcurrentExecutions"`
	AvailableProvisionedConcurrentExecutions int    `json:"AvailableProvisionedConcurrentExecutions"`
	Status                                   string `json:"Status"`
	StatusReason                             string `json:"StatusReason,omitempty"`
	LastModified                             string `json:"LastModified"`
}

// ProvisionedConcurrencyConfigListItem is one item of
// ListProvisionedConcurrencyConfigs.
type ProvisionedConcurrencyConfigListItem struct {
	FunctionArn string `json:"FunctionArn"`
	ProvisionedConcurrencyConfig
}

// ListProvisionedConcurrencyConfigsOutput is ListProvisionedConcurrencyConfigs'
// output.
type ListProvisionedConcurrencyConfigsOutput struct {
	ProvisionedConcurrencyConfigs []ProvisionedConcurrencyConfigListItem `json:"ProvisionedConcurrencyConfigs"`
	NextMarker                    string                                 `json:"NextMarker,omitempty"`
}
