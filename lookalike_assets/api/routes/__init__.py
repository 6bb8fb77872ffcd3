"""The API's routes by area; each router is mounted by ``api.main``."""
