"""The plotly figures the tabs show; each takes data from a service and returns a figure."""
