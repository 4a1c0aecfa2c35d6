# Record-level returns (SSDA903, CIN census) to LA panels.
