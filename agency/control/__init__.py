"""The control plane's services, between the API and the storage repositories."""
