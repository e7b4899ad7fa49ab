"""SDTM (SDTMIG 3.4) datasets derived from the event log: mapping, domains and writers."""
