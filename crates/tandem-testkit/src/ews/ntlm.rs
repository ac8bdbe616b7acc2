//! The server side of NTLM (MS-NLMP), reduced to what a fake needs: parse the client's
//! NEGOTIATE (type 1), answer a CHALLENGE (type 2), and check the AUTHENTICATE (type 3) message's
//! user name and NTLMv2 response against the account's password.
//!
//! Simplifications (documented in the module docs): the challenge is not bound to the TCP
//! connection (any outstanding challenge the response matches is accepted, then spent), the MIC
//! and session keys are not checked, NTLMv1 responses are refused, and SPNEGO-wrapped tokens
//! (`Negotiate` with a GSS header) are not understood, only raw NTLMSSP messages.

use hmac::{KeyInit, Mac};

type HmacMd5 = hmac::Hmac<md5::Md5>;

const SIGNATURE: &[u8; 8] = b"NTLMSSP\0";
/// The NetBIOS domain the fake claims.
pub(crate) const DOMAIN: &str = "TANDEM";
const COMPUTER: &str = "EXCH01";

/// A parsed type 3 message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Authenticate {
    pub(crate) user: String,
    pub(crate) domain: String,
    nt_response: Vec<u8>,
}

/// Which message a token is.
pub(crate) enum Message {
    Negotiate { flags: u32 },
    Authenticate(Authenticate),
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn field(b: &[u8], at: usize) -> Option<&[u8]> {
    let len = usize::from(u16_at(b, at)?);
    let offset = usize::try_from(u32_at(b, at + 4)?).ok()?;
    b.get(offset..offset.checked_add(len)?)
}

fn utf16(b: &[u8]) -> String {
    let units: Vec<u16> = b.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
    String::from_utf16_lossy(&units)
}

fn to_utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// Parses an NTLMSSP message; `None` when it is not one the fake understands.
pub(crate) fn parse(token: &[u8]) -> Option<Message> {
    if token.get(..8)? != SIGNATURE {
        return None;
    }
    match u32_at(token, 8)? {
        1 => Some(Message::Negotiate { flags: u32_at(token, 12).unwrap_or(0) }),
        3 => {
            let flags = u32_at(token, 60).unwrap_or(0x1);
            let text = |b: &[u8]| if flags & 1 != 0 { utf16(b) } else { String::from_utf8_lossy(b).into_owned() };
            Some(Message::Authenticate(Authenticate {
                nt_response: field(token, 20)?.to_vec(),
                domain: text(field(token, 28)?),
                user: text(field(token, 36)?),
            }))
        }
        _ => None,
    }
}

fn av_pair(out: &mut Vec<u8>, id: u16, value: &[u8]) {
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&u16::try_from(value.len()).unwrap_or(0).to_le_bytes());
    out.extend_from_slice(value);
}

/// The CHALLENGE message for a NEGOTIATE with `client_flags`, carrying `challenge`.
pub(crate) fn challenge_message(client_flags: u32, challenge: [u8; 8], filetime: u64) -> Vec<u8> {
    // UNICODE, REQUEST_TARGET, SIGN, SEAL, NTLM, ALWAYS_SIGN, EXTENDED_SESSIONSECURITY, 128,
    // KEY_EXCH, 56: granted as far as the client asked; TARGET_TYPE_DOMAIN and TARGET_INFO always.
    let supported = 0x0000_0001
        | 0x0000_0004
        | 0x0000_0010
        | 0x0000_0020
        | 0x0000_0200
        | 0x0000_8000
        | 0x0008_0000
        | 0x2000_0000
        | 0x4000_0000
        | 0x8000_0000;
    let flags = (client_flags & supported) | 0x0000_0001 | 0x0000_0200 | 0x0001_0000 | 0x0080_0000;
    let target = to_utf16(DOMAIN);
    let mut info = Vec::new();
    av_pair(&mut info, 2, &to_utf16(DOMAIN));
    av_pair(&mut info, 1, &to_utf16(COMPUTER));
    av_pair(&mut info, 4, &to_utf16("tandem.example"));
    av_pair(&mut info, 3, &to_utf16("exch01.tandem.example"));
    av_pair(&mut info, 7, &filetime.to_le_bytes());
    av_pair(&mut info, 0, &[]);
    let header_len = 48u32;
    let mut out = Vec::new();
    out.extend_from_slice(SIGNATURE);
    out.extend_from_slice(&2u32.to_le_bytes());
    let tlen = u16::try_from(target.len()).unwrap_or(0);
    out.extend_from_slice(&tlen.to_le_bytes());
    out.extend_from_slice(&tlen.to_le_bytes());
    out.extend_from_slice(&header_len.to_le_bytes());
    out.extend_from_slice(&flags.to_le_bytes());
    out.extend_from_slice(&challenge);
    out.extend_from_slice(&[0u8; 8]);
    let ilen = u16::try_from(info.len()).unwrap_or(0);
    out.extend_from_slice(&ilen.to_le_bytes());
    out.extend_from_slice(&ilen.to_le_bytes());
    out.extend_from_slice(&(header_len + u32::from(tlen)).to_le_bytes());
    out.extend_from_slice(&target);
    out.extend_from_slice(&info);
    out
}

fn hmac_md5(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let Ok(mut mac) = <HmacMd5 as KeyInit>::new_from_slice(key) else {
        return Vec::new();
    };
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().to_vec()
}

/// Whether `auth` is an NTLMv2 response to `challenge` made with `password`.
pub(crate) fn verify(auth: &Authenticate, password: &str, challenge: &[u8; 8]) -> bool {
    use md4::Digest as _;
    if auth.nt_response.len() <= 24 {
        return false; // NTLMv1 (24 bytes) or empty: refused.
    }
    let nt_hash = md4::Md4::digest(to_utf16(password));
    let identity = to_utf16(&format!("{}{}", auth.user.to_uppercase(), auth.domain));
    let ntowf = hmac_md5(&nt_hash, &[&identity]);
    let (proof, blob) = auth.nt_response.split_at(16);
    let expected = hmac_md5(&ntowf, &[challenge, blob]);
    !expected.is_empty() && expected == proof
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds a type 3 message the way a client does (NTLMv2), for the fake's own tests.
    pub(crate) fn client_authenticate(user: &str, domain: &str, password: &str, type2: &[u8]) -> Vec<u8> {
        use md4::Digest as _;
        let challenge: [u8; 8] = type2[24..32].try_into().unwrap_or([0; 8]);
        let nt_hash = md4::Md4::digest(to_utf16(password));
        let ntowf = hmac_md5(&nt_hash, &[&to_utf16(&format!("{}{domain}", user.to_uppercase()))]);
        let mut blob = vec![1, 1, 0, 0, 0, 0, 0, 0];
        blob.extend_from_slice(&[0u8; 8]);
        blob.extend_from_slice(&[7u8; 8]);
        blob.extend_from_slice(&[0u8; 4]);
        blob.extend_from_slice(&[0u8; 4]);
        let proof = hmac_md5(&ntowf, &[&challenge, &blob]);
        let nt: Vec<u8> = proof.into_iter().chain(blob).collect();
        let (d, u) = (to_utf16(domain), to_utf16(user));
        let mut out = SIGNATURE.to_vec();
        out.extend_from_slice(&3u32.to_le_bytes());
        let base = 64u32;
        let mut payload = Vec::new();
        let mut buf = |out: &mut Vec<u8>, data: &[u8]| {
            let len = u16::try_from(data.len()).unwrap_or(0);
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&(base + u32::try_from(payload.len()).unwrap_or(0)).to_le_bytes());
            payload.extend_from_slice(data);
        };
        buf(&mut out, &[]);
        buf(&mut out, &nt);
        buf(&mut out, &d);
        buf(&mut out, &u);
        buf(&mut out, &[]);
        buf(&mut out, &[]);
        out.extend_from_slice(&0x0008_8201u32.to_le_bytes());
        out.extend_from_slice(&payload);
        out
    }

    #[test]
    fn verifies_an_ntlmv2_response() {
        let type2 = challenge_message(0x0008_8207, [1, 2, 3, 4, 5, 6, 7, 8], 0);
        let type3 = client_authenticate("svc-tandem", "TANDEM", "Secret1!", &type2);
        let Some(Message::Authenticate(auth)) = parse(&type3) else { panic!("not a type 3") };
        assert_eq!(auth.user, "svc-tandem");
        assert!(verify(&auth, "Secret1!", &[1, 2, 3, 4, 5, 6, 7, 8]));
        assert!(!verify(&auth, "wrong", &[1, 2, 3, 4, 5, 6, 7, 8]));
        assert!(!verify(&auth, "Secret1!", &[0; 8]));
    }
}
