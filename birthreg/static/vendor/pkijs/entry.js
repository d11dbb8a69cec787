// The parts of PKI.js (and asn1js) that birthreg's key-file page uses to open a PKCS#12 file.
export { AuthenticatedSafe, CertBag, Certificate, PFX, PKCS8ShroudedKeyBag, PrivateKeyInfo } from "pkijs";
