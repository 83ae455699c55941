"""Independent DKIM verifier for tests (used by tests/helpers/dkim-verify.ts).

Usage: /usr/bin/python3 dkim-verify.py DNS_HOST DNS_PORT < message
Verifies the topmost DKIM-Signature with Debian's python3-dkim, looking the key up as TXT on the
given DNS server only (never the system resolver). Prints one JSON line {"ok": bool, "detail": str}.
Exit status: 0 verified, 1 not verified, 2 the verifier itself failed.
"""
import io
import json
import logging
import sys

import dkim
import dns.exception
import dns.rdatatype
import dns.resolver


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [host]
    resolver.port = port
    lookups = []

    def dnsfunc(name, timeout=5):
        qname = name.decode('ascii') if isinstance(name, bytes) else name
        try:
            answer = resolver.resolve(qname, dns.rdatatype.TXT, lifetime=timeout, raise_on_no_answer=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoNameservers):
            lookups.append('%s: no record' % qname)
            return None
        except dns.exception.Timeout as e:
            raise dkim.DnsTimeoutError(str(e))
        for rrset in answer.response.answer:
            if rrset.rdtype == dns.rdatatype.TXT:
                lookups.append('%s: found' % qname)
                return b''.join(next(iter(rrset)).strings)
        lookups.append('%s: no TXT' % qname)
        return None

    log_text = io.StringIO()
    logger = logging.getLogger('dkim-verify')
    logger.setLevel(logging.DEBUG)
    logger.addHandler(logging.StreamHandler(log_text))

    message = sys.stdin.buffer.read()
    head = message.replace(b'\r\n', b'\n').split(b'\n\n', 1)[0]
    if not any(line.lower().startswith(b'dkim-signature:') for line in head.split(b'\n')):
        print(json.dumps({'ok': False, 'detail': 'no DKIM-Signature header'}))
        return 1
    ok = dkim.verify(message, logger=logger, dnsfunc=dnsfunc)
    lines = [line for line in log_text.getvalue().splitlines() if line.strip()]
    detail = '; '.join(lookups + lines[-5:]) or ('signature verified' if ok else 'signature not verified')
    print(json.dumps({'ok': bool(ok), 'detail': ('verified: ' if ok else 'failed: ') + detail}))
    return 0 if ok else 1


if __name__ == '__main__':
    try:
        sys.exit(main())
    except Exception as e:  # the verifier itself broke: report, never claim success
        print(json.dumps({'ok': False, 'detail': 'verifier error: %s: %s' % (type(e).__name__, e)}))
        sys.exit(2)
