"""Reading the samples: the data side, the notebook widget, the offline HTML page."""
