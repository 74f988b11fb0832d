import logging

logger = logging.getLogger()
logger.setLevel(logging.INFO)
logger.info("cold start")


def handler(event, context):
    logger.info("in handler %d", 7)
    logging.getLogger("child").error("child logger")
    return {"handlers": len(logging.getLogger().handlers)}
