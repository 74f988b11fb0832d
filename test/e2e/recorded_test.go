package e2e

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"
)

// TestRecordedManagementErrors replays management calls whose answers
// localstack recorded against AWS (tests/aws/services/lambda_/
// test_lambda_api.snapshot.json; the snapshot key is in each case's
// name) and checks Hearth answers with the same code and message.
func TestRecordedManagementErrors(t *testing.T) {
	s := startServer(t, "")
	ctx := t.Context()
	c := s.NoRetry
	s.create(t, "rec", goFn())
	for i := range 2 {
		if _, err := s.Client.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{
			FunctionName: aws.String("rec"), Description: aws.String(fmt.Sprint("version ", i+1))}); err != nil {
			t.Fatal(err)
		}
		s.waitUpdated(t, "rec")
		if _, err := s.Client.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String("rec")}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Client.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String("rec"), Name: aws.String("eventinvokealias"),
		FunctionVersion: aws.String("1")}); err != nil {
		t.Fatal(err)
	}
	const arn = "arn:aws:lambda:us-east-1:000000000000:function:rec"
	const layer = "arn:aws:lambda:us-east-1:000000000000:layer:reclayer"
	layerZip := zipFiles(map[string]zipFile{"python/m.py": {data: []byte("x = 1\n")}})
	for range 2 {
		if _, err := s.Client.PublishLayerVersion(ctx, &lambda.PublishLayerVersionInput{LayerName: aws.String("reclayer"),
			Content: &types.LayerVersionContentInput{ZipFile: layerZip}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Client.AddLayerVersionPermission(ctx, &lambda.AddLayerVersionPermissionInput{LayerName: aws.String("reclayer"), VersionNumber: aws.Int64(1),
		StatementId: aws.String("s1"), Action: aws.String("lambda:GetLayerVersion"), Principal: aws.String("*")}); err != nil {
		t.Fatal(err)
	}
	withLayers := func(layers ...string) func(context.Context) error {
		return func(ctx context.Context) error {
			_, err := c.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String("rec"), Layers: layers})
			return err
		}
	}
	weights := func(w map[string]float64) *types.AliasRoutingConfiguration {
		return &types.AliasRoutingConfiguration{AdditionalVersionWeights: w}
	}
	s3 := func(fn, qualifier string) *lambda.AddPermissionInput {
		in := &lambda.AddPermissionInput{FunctionName: aws.String(fn), Action: aws.String("lambda:InvokeFunction"), StatementId: aws.String("s3"),
			Principal: aws.String("s3.amazonaws.com"), SourceArn: aws.String("arn:aws:s3:::test-bucket")}
		if qualifier != "" {
			in.Qualifier = aws.String(qualifier)
		}
		return in
	}
	tests := []struct {
		name     string
		call     func(context.Context) error
		code     string
		message  string
		recorded bool // false: Hearth's own, where AWS's answer is not recorded
	}{
		// TestLambdaAlias::test_notfound_and_invalid_routingconfigs
		{"routing_config_exc_toomany", func(ctx context.Context) error {
			_, err := c.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String("rec"), Name: aws.String("custom"), FunctionVersion: aws.String("1"),
				RoutingConfig: weights(map[string]float64{"1": 0.8, "2": 0.2})})
			return err
		}, "InvalidParameterValueException", "Number of items in AdditionalVersionWeights cannot be greater than 1", true},
		{"routing_config_exc_toohigh", func(ctx context.Context) error {
			_, err := c.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String("rec"), Name: aws.String("custom"), FunctionVersion: aws.String("1"),
				RoutingConfig: weights(map[string]float64{"2": 2})})
			return err
		}, "ValidationException", "1 validation error detected: Value '{2=2.0}' at 'routingConfig.additionalVersionWeights' failed to satisfy constraint: Map value must satisfy constraint: [Member must have value less than or equal to 1.0, Member must have value greater than or equal to 0.0, Member must not be null]", true},
		{"routing_config_exc_subzero", func(ctx context.Context) error {
			_, err := c.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String("rec"), Name: aws.String("custom"), FunctionVersion: aws.String("1"),
				RoutingConfig: weights(map[string]float64{"2": -1})})
			return err
		}, "ValidationException", "1 validation error detected: Value '{2=-1.0}' at 'routingConfig.additionalVersionWeights' failed to satisfy constraint: Map value must satisfy constraint: [Member must have value less than or equal to 1.0, Member must have value greater than or equal to 0.0, Member must not be null]", true},
		{"target_version_exc_version_latest", func(ctx context.Context) error {
			_, err := c.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String("rec"), Name: aws.String("custom"), FunctionVersion: aws.String("$LATEST"),
				RoutingConfig: weights(map[string]float64{"1": 0.5})})
			return err
		}, "InvalidParameterValueException", "$LATEST is not supported for an alias pointing to more than 1 version", true},
		{"routing_config_exc_fn_doesnotexist", func(ctx context.Context) error {
			_, err := c.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String("rec-unknown"), Name: aws.String("custom"), FunctionVersion: aws.String("1"),
				RoutingConfig: weights(map[string]float64{"2": 0.5})})
			return err
		}, "ResourceNotFoundException", "Function not found: " + arn + "-unknown:1", true},
		{"UpdateAlias with two weights", func(ctx context.Context) error {
			_, err := c.UpdateAlias(ctx, &lambda.UpdateAliasInput{FunctionName: aws.String("rec"), Name: aws.String("eventinvokealias"),
				RoutingConfig: weights(map[string]float64{"1": 0.8, "2": 0.2})})
			return err
		}, "InvalidParameterValueException", "Number of items in AdditionalVersionWeights cannot be greater than 1", false},

		// TestLambdaAlias::test_non_existent_alias_update, test_non_existent_alias_deletion
		{"update_alias_response", func(ctx context.Context) error {
			_, err := c.UpdateAlias(ctx, &lambda.UpdateAliasInput{FunctionName: aws.String("rec"), Name: aws.String("non-existent")})
			return err
		}, "ResourceNotFoundException", "Alias not found: " + arn + ":non-existent", true},
		{"delete_alias_response", func(ctx context.Context) error {
			_, err := c.DeleteAlias(ctx, &lambda.DeleteAliasInput{FunctionName: aws.String("rec"), Name: aws.String("non-existent")})
			return err
		}, "", "", true},

		// TestLambdaReservedConcurrency::test_function_concurrency_exceptions
		{"put_function_concurrency_with_function_name_doesnotexist", func(ctx context.Context) error {
			_, err := c.PutFunctionConcurrency(ctx, &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String("doesnotexist"), ReservedConcurrentExecutions: aws.Int32(1)})
			return err
		}, "ResourceNotFoundException", "Function not found: arn:aws:lambda:us-east-1:000000000000:function:doesnotexist:$LATEST", true},
		{"put_function_concurrency_with_qualified_arn", func(ctx context.Context) error {
			_, err := c.PutFunctionConcurrency(ctx, &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String(arn + ":$LATEST"), ReservedConcurrentExecutions: aws.Int32(0)})
			return err
		}, "InvalidParameterValueException", "This operation is permitted on Lambda functions only. Aliases and versions do not support this operation. Please specify either a function name or an unqualified function ARN.", true},

		// TestLambdaProvisionedConcurrency::test_provisioned_concurrency_exceptions
		{"get_provisioned_functionname_doesnotexist", func(ctx context.Context) error {
			_, err := c.GetProvisionedConcurrencyConfig(ctx, &lambda.GetProvisionedConcurrencyConfigInput{FunctionName: aws.String("doesnotexist"), Qualifier: aws.String("noalias")})
			return err
		}, "ResourceNotFoundException", "Cannot find alias arn: arn:aws:lambda:us-east-1:000000000000:function:doesnotexist:noalias", true},
		{"get_provisioned_qualifier_doesnotexist", func(ctx context.Context) error {
			_, err := c.GetProvisionedConcurrencyConfig(ctx, &lambda.GetProvisionedConcurrencyConfigInput{FunctionName: aws.String("rec"), Qualifier: aws.String("noalias")})
			return err
		}, "ResourceNotFoundException", "Cannot find alias arn: " + arn + ":noalias", true},
		{"get_provisioned_latest", func(ctx context.Context) error {
			_, err := c.GetProvisionedConcurrencyConfig(ctx, &lambda.GetProvisionedConcurrencyConfigInput{FunctionName: aws.String("rec"), Qualifier: aws.String("$LATEST")})
			return err
		}, "InvalidParameterValueException", "The function resource provided must be an alias or a published version.", true},
		{"delete_provisioned_functionname_doesnotexist", func(ctx context.Context) error {
			_, err := c.DeleteProvisionedConcurrencyConfig(ctx, &lambda.DeleteProvisionedConcurrencyConfigInput{FunctionName: aws.String("doesnotexist"), Qualifier: aws.String("1")})
			return err
		}, "ResourceNotFoundException", "Function not found: arn:aws:lambda:us-east-1:000000000000:function:doesnotexist:1", true},
		{"delete_provisioned_latest", func(ctx context.Context) error {
			_, err := c.DeleteProvisionedConcurrencyConfig(ctx, &lambda.DeleteProvisionedConcurrencyConfigInput{FunctionName: aws.String("rec"), Qualifier: aws.String("$LATEST")})
			return err
		}, "InvalidParameterValueException", "The function resource provided must be an alias or a published version.", true},
		{"put_provisioned_functionname_doesnotexist_alias", func(ctx context.Context) error {
			_, err := c.PutProvisionedConcurrencyConfig(ctx, &lambda.PutProvisionedConcurrencyConfigInput{FunctionName: aws.String("doesnotexist"), Qualifier: aws.String("noalias"),
				ProvisionedConcurrentExecutions: aws.Int32(1)})
			return err
		}, "ResourceNotFoundException", "Cannot find alias arn: arn:aws:lambda:us-east-1:000000000000:function:doesnotexist:noalias", true},
		{"put_provisioned_functionname_doesnotexist_version", func(ctx context.Context) error {
			_, err := c.PutProvisionedConcurrencyConfig(ctx, &lambda.PutProvisionedConcurrencyConfigInput{FunctionName: aws.String("doesnotexist"), Qualifier: aws.String("1"),
				ProvisionedConcurrentExecutions: aws.Int32(1)})
			return err
		}, "ResourceNotFoundException", "Function not found: arn:aws:lambda:us-east-1:000000000000:function:doesnotexist:1", true},
		{"put_provisioned_latest", func(ctx context.Context) error {
			_, err := c.PutProvisionedConcurrencyConfig(ctx, &lambda.PutProvisionedConcurrencyConfigInput{FunctionName: aws.String("rec"), Qualifier: aws.String("$LATEST"),
				ProvisionedConcurrentExecutions: aws.Int32(1)})
			return err
		}, "InvalidParameterValueException", "Provisioned Concurrency Configs cannot be applied to unpublished function versions.", true},

		// TestLambdaProvisionedConcurrency::test_lambda_provisioned_lifecycle
		{"put_provisioned_on_version", func(ctx context.Context) error {
			_, err := c.PutProvisionedConcurrencyConfig(ctx, &lambda.PutProvisionedConcurrencyConfigInput{FunctionName: aws.String("rec"), Qualifier: aws.String("1"),
				ProvisionedConcurrentExecutions: aws.Int32(1)})
			return err
		}, "", "", true},
		{"put_provisioned_on_alias_versionconflict", func(ctx context.Context) error {
			_, err := c.PutProvisionedConcurrencyConfig(ctx, &lambda.PutProvisionedConcurrencyConfigInput{FunctionName: aws.String("rec"), Qualifier: aws.String("eventinvokealias"),
				ProvisionedConcurrentExecutions: aws.Int32(1)})
			return err
		}, "ResourceConflictException", "Alias can't be used for Provisioned Concurrency configuration on an already Provisioned version", true},
		{"delete_provisioned_version", func(ctx context.Context) error {
			_, err := c.DeleteProvisionedConcurrencyConfig(ctx, &lambda.DeleteProvisionedConcurrencyConfigInput{FunctionName: aws.String("rec"), Qualifier: aws.String("1")})
			return err
		}, "", "", true},
		{"put_provisioned_on_alias", func(ctx context.Context) error {
			_, err := c.PutProvisionedConcurrencyConfig(ctx, &lambda.PutProvisionedConcurrencyConfigInput{FunctionName: aws.String("rec"), Qualifier: aws.String("eventinvokealias"),
				ProvisionedConcurrentExecutions: aws.Int32(1)})
			return err
		}, "", "", true},
		{"put_provisioned_on_version_conflict", func(ctx context.Context) error {
			_, err := c.PutProvisionedConcurrencyConfig(ctx, &lambda.PutProvisionedConcurrencyConfigInput{FunctionName: aws.String("rec"), Qualifier: aws.String("1"),
				ProvisionedConcurrentExecutions: aws.Int32(1)})
			return err
		}, "ResourceConflictException", "Version is pointed by a Provisioned Concurrency alias", true},
		{"delete the alias's provisioned concurrency", func(ctx context.Context) error {
			_, err := c.DeleteProvisionedConcurrencyConfig(ctx, &lambda.DeleteProvisionedConcurrencyConfigInput{FunctionName: aws.String("rec"), Qualifier: aws.String("eventinvokealias")})
			return err
		}, "", "", true},

		// TestLambdaUrl::test_url_config_exceptions
		{"create_function_url_config_name_doesnotexist", func(ctx context.Context) error {
			_, err := c.CreateFunctionUrlConfig(ctx, &lambda.CreateFunctionUrlConfigInput{FunctionName: aws.String("doesnotexist"), AuthType: types.FunctionUrlAuthTypeNone})
			return err
		}, "ResourceNotFoundException", "Function does not exist", true},
		{"update_function_url_config_qualifier_alias_doesnotexist", func(ctx context.Context) error {
			_, err := c.UpdateFunctionUrlConfig(ctx, &lambda.UpdateFunctionUrlConfigInput{FunctionName: aws.String("rec"), Qualifier: aws.String("nope"), AuthType: types.FunctionUrlAuthTypeNone})
			return err
		}, "ResourceNotFoundException", "Function does not exist", true},
		{"list_function_notfound", func(ctx context.Context) error {
			_, err := c.ListFunctionUrlConfigs(ctx, &lambda.ListFunctionUrlConfigsInput{FunctionName: aws.String("doesnotexist")})
			return err
		}, "ResourceNotFoundException", "Function does not exist", true},
		{"get_function_url_config_name_doesnotexist", func(ctx context.Context) error {
			_, err := c.GetFunctionUrlConfig(ctx, &lambda.GetFunctionUrlConfigInput{FunctionName: aws.String("doesnotexist")})
			return err
		}, "ResourceNotFoundException", "The resource you requested does not exist.", true},
		{"delete_function_url_config_qualifier_alias_doesnotexist", func(ctx context.Context) error {
			_, err := c.DeleteFunctionUrlConfig(ctx, &lambda.DeleteFunctionUrlConfigInput{FunctionName: aws.String("rec"), Qualifier: aws.String("nope")})
			return err
		}, "ResourceNotFoundException", "The resource you requested does not exist.", true},

		// TestLambdaFunction::test_delete_on_nonexisting_version
		{"delete a version that does not exist", func(ctx context.Context) error {
			_, err := c.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String("rec"), Qualifier: aws.String("1233")})
			return err
		}, "", "", true},
		{"delete_function_response_non_existent_with_qualifier", func(ctx context.Context) error {
			_, err := c.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String("doesnotexist"), Qualifier: aws.String("1233")})
			return err
		}, "ResourceNotFoundException", "Function not found: arn:aws:lambda:us-east-1:000000000000:function:doesnotexist", true},

		// test_function_name_and_qualifier_validation[lowercase_latest_qualifier-delete_function]
		{"lowercase_latest_qualifier-delete_function", func(ctx context.Context) error {
			_, err := c.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String("arn:aws:lambda:us-east-1:000000000000:function:my-function"),
				Qualifier: aws.String("$latest")})
			return err
		}, "ResourceNotFoundException", "Function not found: arn:aws:lambda:us-east-1:000000000000:function:my-function", true},

		// TestLambdaLayer::test_layer_exceptions, test_layer_policy_exceptions, test_layer_function_exceptions
		{"get_layer_version_exc_layer_version_doesnotexist_zero", func(ctx context.Context) error {
			_, err := c.GetLayerVersion(ctx, &lambda.GetLayerVersionInput{LayerName: aws.String("reclayer"), VersionNumber: aws.Int64(0)})
			return err
		}, "InvalidParameterValueException", "Layer Version Cannot be less than 1", true},
		{"delete_layer_version_exc_layerversion_invalid_version", func(ctx context.Context) error {
			_, err := c.DeleteLayerVersion(ctx, &lambda.DeleteLayerVersionInput{LayerName: aws.String("reclayer"), VersionNumber: aws.Int64(-1)})
			return err
		}, "InvalidParameterValueException", "Layer Version Cannot be less than 1", true},
		{"layer_permission_wrong_revision", func(ctx context.Context) error {
			_, err := c.AddLayerVersionPermission(ctx, &lambda.AddLayerVersionPermissionInput{LayerName: aws.String("reclayer"), VersionNumber: aws.Int64(1),
				StatementId: aws.String("s2"), Action: aws.String("lambda:GetLayerVersion"), Principal: aws.String("*"), RevisionId: aws.String("wrong")})
			return err
		}, "PreconditionFailedException", "The Revision Id provided does not match the latest Revision Id. Call the GetLayerPolicy API to retrieve the latest Revision Id", true},
		{"layer_permission_layername_doesnotexist_add", func(ctx context.Context) error {
			_, err := c.AddLayerVersionPermission(ctx, &lambda.AddLayerVersionPermissionInput{LayerName: aws.String("reclayer-doesnotexist"), VersionNumber: aws.Int64(1),
				StatementId: aws.String("s2"), Action: aws.String("lambda:GetLayerVersion"), Principal: aws.String("*")})
			return err
		}, "ResourceNotFoundException", "Layer version " + layer + "-doesnotexist:1 does not exist.", true},
		{"layer_permission_layerversion_doesnotexist_get", func(ctx context.Context) error {
			_, err := c.GetLayerVersionPolicy(ctx, &lambda.GetLayerVersionPolicyInput{LayerName: aws.String("reclayer"), VersionNumber: aws.Int64(3)})
			return err
		}, "ResourceNotFoundException", "Layer version " + layer + ":3 does not exist.", true},
		{"layer_permission_layerversion_doesnotexist_remove", func(ctx context.Context) error {
			_, err := c.RemoveLayerVersionPermission(ctx, &lambda.RemoveLayerVersionPermissionInput{LayerName: aws.String("reclayer"), VersionNumber: aws.Int64(3),
				StatementId: aws.String("s1")})
			return err
		}, "ResourceNotFoundException", "Layer version " + layer + ":3 does not exist.", true},
		{"two_layer_versions_single_function_exc", withLayers(layer+":1", layer+":2"), "InvalidParameterValueException",
			"Two different versions of the same layer are not allowed to be referenced in the same function. " + layer + ":1 and " + layer + ":2 are versions of the same layer.", true},
		{"create_function_with_layer_in_different_region", withLayers("arn:aws:lambda:eu-west-1:000000000000:layer:reclayer:1"), "InvalidParameterValueException",
			"Layers are not in the same region as the function. Layers are expected to be in region us-east-1.", true},

		// TestLambdaEventInvokeConfig::test_lambda_eventinvokeconfig_exceptions
		{"list_function_doesnotexist", func(ctx context.Context) error {
			_, err := c.ListFunctionEventInvokeConfigs(ctx, &lambda.ListFunctionEventInvokeConfigsInput{FunctionName: aws.String("doesnotexist")})
			return err
		}, "ResourceNotFoundException", "The function doesn't exist.", true},
		{"update_eventinvokeconfig_config_doesnotexist_with_qualifier", func(ctx context.Context) error {
			_, err := c.UpdateFunctionEventInvokeConfig(ctx, &lambda.UpdateFunctionEventInvokeConfigInput{FunctionName: aws.String(arn + ":eventinvokealias"),
				MaximumRetryAttempts: aws.Int32(0)})
			return err
		}, "ResourceNotFoundException", "The function " + arn + ":eventinvokealias doesn't have an EventInvokeConfig", true},
		{"update_eventinvokeconfig_config_doesnotexist_without_qualifier", func(ctx context.Context) error {
			_, err := c.UpdateFunctionEventInvokeConfig(ctx, &lambda.UpdateFunctionEventInvokeConfigInput{FunctionName: aws.String(arn),
				MaximumRetryAttempts: aws.Int32(0)})
			return err
		}, "ResourceNotFoundException", "The function " + arn + ":$LATEST doesn't have an EventInvokeConfig", true},

		// TestLambdaPermissions::test_permission_exceptions
		{"add_permission_fn_qualifier_latest", func(ctx context.Context) error {
			_, err := c.AddPermission(ctx, s3("rec:$LATEST", "$LATEST"))
			return err
		}, "InvalidParameterValueException", "We currently do not support adding policies for $LATEST.", true},
		{"add_permission_principal_invalid", func(ctx context.Context) error {
			_, err := c.AddPermission(ctx, &lambda.AddPermissionInput{FunctionName: aws.String("rec"), Action: aws.String("lambda:InvokeFunction"),
				StatementId: aws.String("lambda"), Principal: aws.String("invalid.nonaws.com"), SourceAccount: aws.String("000000000000")})
			return err
		}, "InvalidParameterValueException", "The provided principal was invalid. Please check the principal and try again.", true},
		{"get_policy_fn_doesnotexist", func(ctx context.Context) error {
			_, err := c.GetPolicy(ctx, &lambda.GetPolicyInput{FunctionName: aws.String("doesnotexist")})
			return err
		}, "ResourceNotFoundException", "The resource you requested does not exist.", true},
		{"get_policy_fn_version_doesnotexist", func(ctx context.Context) error {
			_, err := c.GetPolicy(ctx, &lambda.GetPolicyInput{FunctionName: aws.String("rec"), Qualifier: aws.String("77")})
			return err
		}, "ResourceNotFoundException", "The resource you requested does not exist.", true},
		{"remove_permission_policy_doesnotexist", func(ctx context.Context) error {
			_, err := c.RemovePermission(ctx, &lambda.RemovePermissionInput{FunctionName: aws.String("rec"), StatementId: aws.String("s3")})
			return err
		}, "ResourceNotFoundException", "No policy is associated with the given resource.", true},
		{"add_permission_fn_alias_doesnotexist", func(ctx context.Context) error {
			_, err := c.AddPermission(ctx, s3("rec:alias-doesnotexist", ""))
			return err
		}, "ResourceNotFoundException", "Cannot find alias arn: " + arn + ":alias-doesnotexist", true},
		{"add_permission_fn_version_doesnotexist", func(ctx context.Context) error {
			_, err := c.AddPermission(ctx, s3("rec", "42"))
			return err
		}, "ResourceNotFoundException", "Function not found: " + arn + ":42", true},
		{"add_permission_fn_qualifier_valid_doesnotexist", func(ctx context.Context) error {
			_, err := c.AddPermission(ctx, s3("rec", "valid-with-$-but-doesnotexist"))
			return err
		}, "ResourceNotFoundException", "Function not found: " + arn + ":valid-with-$-but-doesnotexist", true},
		{"add_permission", func(ctx context.Context) error {
			_, err := c.AddPermission(ctx, s3("rec", ""))
			return err
		}, "", "", true},
		{"add_permission_conflicting_statement_id", func(ctx context.Context) error {
			_, err := c.AddPermission(ctx, s3("rec", ""))
			return err
		}, "ResourceConflictException", "The statement id (s3) provided already exists. Please provide a new statement id, or remove the existing statement.", true},
		{"remove_permission_fn_doesnotexist", func(ctx context.Context) error {
			_, err := c.RemovePermission(ctx, &lambda.RemovePermissionInput{FunctionName: aws.String("doesnotexist"), StatementId: aws.String("s3")})
			return err
		}, "ResourceNotFoundException", "No policy found for: arn:aws:lambda:us-east-1:000000000000:function:doesnotexist", true},
		{"remove_permission_fn_alias_doesnotexist", func(ctx context.Context) error {
			_, err := c.RemovePermission(ctx, &lambda.RemovePermissionInput{FunctionName: aws.String("rec:alias-doesnotexist"), StatementId: aws.String("s3")})
			return err
		}, "ResourceNotFoundException", "Cannot find alias arn: " + arn + ":alias-doesnotexist", true},
	}
	for _, tt := range tests {
		var code, msg string
		err := tt.call(ctx)
		var ae smithy.APIError
		if errors.As(err, &ae) {
			code, msg = ae.ErrorCode(), ae.ErrorMessage()
		} else if err != nil {
			t.Errorf("%s: %v; want an API error", tt.name, err)
			continue
		}
		if code != tt.code || msg != tt.message {
			source := "AWS's recorded answer"
			if !tt.recorded {
				source = "as for CreateAlias"
			}
			t.Errorf("%s: got %s %q\nwant %s %q (%s)", tt.name, code, msg, tt.code, tt.message, source)
		}
	}
}
