class ConfigurationError(Exception):
    pass


raise ConfigurationError("missing TABLE_NAME")


def handler(event, context):
    return 1
