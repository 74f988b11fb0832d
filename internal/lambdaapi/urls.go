package lambdaapi

// Cors is a function URL's Cors member, in requests and answers.
type Cors struct {
	AllowCredentials *bool    `json:"AllowCredentials,omitempty"`
	AllowHeaders     []string `json:"AllowHeaders,omitempty"`
	AllowMethods     []string `json:"AllowMethods,omitempty"`
	AllowOrigins     []string `json:"AllowOrigins,omitempty"`
	ExposeHeaders    []string `json:"ExposeHeaders,omitempty"`
	MaxAge           *int     `json:"MaxAge,omitempty"`
}

// FunctionUrlConfigInput is the body of CreateFunctionUrlConfig and
// UpdateFunctionUrlConfig.
type FunctionUrlConfigInput struct {
	AuthType   *string `json:"AuthType,omitempty"`
	Cors       *Cors   `json:"Cors,omitempty"`
	InvokeMode *string `json:"InvokeMode,omitempty"`
}

// FunctionUrlConfig is a function URL as Get, Update and List answer it;
// Create leaves LastModifiedTime out.
type FunctionUrlConfig struct {
	FunctionUrl      string `json:"FunctionUrl"`
	FunctionArn      string `json:"FunctionArn"`
	AuthType         string `json:"AuthType"`
	Cors             *Cors  `json:"Cors,omitempty"`
	CreationTime     string `json:"CreationTime"`
	LastModifiedTime string `json:"LastModifiedTime,omitempty"`
	InvokeMode       string `json:"InvokeMode"`
}

// ListFunctionUrlConfigsOutput is ListFunctionUrlConfigs' answer.
type ListFunctionUrlConfigsOutput struct {
	FunctionUrlConfigs []FunctionUrlConfig `json:"FunctionUrlConfigs"`
	NextMarker         string              `json:"NextMarker,omitempty"`
}
