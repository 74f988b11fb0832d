import hearth_no_such_dependency  # noqa: F401


def handler(event, context):
    return 1
