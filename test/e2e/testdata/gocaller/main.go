// Command gocaller is a Go function that calls Hearth's APIs with
// aws-sdk-go-v2 as any function would call AWS's: the default config,
// which finds the environment's credentials and AWS_ENDPOINT_URL_LAMBDA.
package main

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	lambdasvc "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

type event struct {
	Target  string          `json:"target"`
	Payload json.RawMessage `json:"payload"`
}

type reply struct {
	Status  int32  `json:"status"`
	Payload string `json:"payload"`
	Arn     string `json:"arn"`
	Account string `json:"account"`
}

func handle(ctx context.Context, e event) (*reply, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, err
	}
	out, err := lambdasvc.NewFromConfig(cfg).Invoke(ctx, &lambdasvc.InvokeInput{FunctionName: aws.String(e.Target), Payload: e.Payload})
	if err != nil {
		return nil, err
	}
	id, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return nil, err
	}
	return &reply{Status: out.StatusCode, Payload: string(out.Payload), Arn: aws.ToString(id.Arn), Account: aws.ToString(id.Account)}, nil
}

func main() { lambda.Start(handle) }
