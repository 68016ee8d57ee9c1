"""Development tools, never imported by the production runtime (``tests/test_layering.py``
checks): the local broker (``broker``), the development token issuer (``issuer``) and
the whole system on one machine (``stack``, what ``make run`` starts)."""
