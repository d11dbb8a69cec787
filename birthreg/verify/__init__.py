"""Public verification of a birth certificate's QR seal: the /verify page (checks in the browser,
offline once loaded), `POST /api/v1/verify` and the status check, which is sent the certificate
number only, never a personal field."""
