//! The DNS test harness and the resolver together: each kind of answer the
//! test unbound gives (records, NODATA, NXDOMAIN, null MX, SERVFAIL, REFUSED,
//! a timeout) comes out of `SystemResolver` as `doctor` and `verify` expect.

use std::net::{IpAddr, SocketAddr};

use cadenced::dns::{DnsError, Mx, Resolve, SystemResolver};

use crate::support::dns::{DnsServer, KEY_2048};

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(future)
}

fn failed<T: std::fmt::Debug>(answer: Result<Vec<T>, DnsError>) -> String {
    match answer {
        Err(DnsError::Failed(reason)) => reason,
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn each_kind_of_dns_answer_comes_through_the_resolver() {
    let server = DnsServer::start(&["extra.test. 300 IN MX 5 in.extra.test.", "in.extra.test. 300 IN A 127.0.0.9"]);
    block_on(async {
        let dns = SystemResolver::new(&[server.addr]).unwrap();
        assert_eq!(dns.mx("good.test").await, Ok(vec![Mx { preference: 10, exchange: "mx.good.test".into() }]));
        assert_eq!(dns.ips("mx.good.test").await, Ok(vec!["127.0.0.1".parse::<IpAddr>().unwrap()]));
        // A name asked with its trailing dot, or in capitals, is the same name.
        assert_eq!(dns.mx("GOOD.test.").await.unwrap().len(), 1);
        // Null MX: one record, exchange "." read as empty.
        assert_eq!(dns.mx("nullmx.test").await, Ok(vec![Mx { preference: 0, exchange: String::new() }]));
        // NXDOMAIN apart from NODATA.
        assert_eq!(dns.mx("nxdomain.test").await, Err(DnsError::NxDomain));
        assert_eq!(dns.ips("nxdomain.test").await, Err(DnsError::NxDomain));
        assert_eq!(dns.txt("nxdomain.test").await, Err(DnsError::NxDomain));
        assert_eq!(dns.mx("a-only.test").await, Ok(vec![]));
        assert_eq!(dns.ips("a-only.test").await, Ok(vec!["127.0.0.1".parse::<IpAddr>().unwrap()]));
        assert_eq!(dns.ips("aaaa-only.test").await, Ok(vec!["::1".parse::<IpAddr>().unwrap()]));
        assert_eq!(dns.ips("txt-only.test").await, Ok(vec![]));
        assert_eq!(dns.mx("mx-noaddr.test").await.unwrap()[0].exchange, "mail.mx-noaddr.test");
        assert_eq!(dns.ips("mail.mx-noaddr.test").await, Err(DnsError::NxDomain));
        // TXT: a record's character-strings joined (the 2048-bit key is two).
        assert_eq!(dns.txt("s1._domainkey.good.test").await, Ok(vec![format!("v=DKIM1; k=rsa; p={KEY_2048}")]));
        let mut spf = dns.txt("spf-two.test").await.unwrap();
        spf.sort();
        assert_eq!(spf, vec!["v=spf1 ip4:192.0.2.1 -all", "v=spf1 mx ip4:127.0.0.0/8 ~all"]);
        assert_eq!(dns.txt("_dmarc.nodmarc.test").await, Err(DnsError::NxDomain));
        assert_eq!(dns.txt("_dmarc.dmarc-two.test").await.unwrap().len(), 2);
        // The caller's extra records.
        assert_eq!(dns.mx("extra.test").await, Ok(vec![Mx { preference: 5, exchange: "in.extra.test".into() }]));
        // Could not tell: SERVFAIL, REFUSED, a zone too slow.
        let servfail = failed(dns.mx("servfail.test").await);
        assert!(servfail.contains("SERVFAIL") || servfail.contains("Server Failure"), "{servfail}");
        assert!(failed(dns.ips("host.servfail.test").await).contains("servfail.test"));
        let refused = failed(dns.mx("refused.test").await);
        assert!(refused.contains("Refused") || refused.contains("REFUSED"), "{refused}");
        let slow = failed(dns.mx("slow.test").await);
        assert!(slow.contains("MX slow.test: timed out"), "{slow}");
        // Anything else in the zone: no answer in time either.
        let again = failed(dns.any_ip("www.slow.test").await);
        assert!(again.contains("slow.test: timed out"), "{again}");
        // A first, AAAA only without an A; NXDOMAIN as NXDOMAIN.
        assert_eq!(dns.any_ip("aaaa-only.test").await, Ok(vec!["::1".parse::<IpAddr>().unwrap()]));
        assert_eq!(dns.any_ip("a-only.test").await, Ok(vec!["127.0.0.1".parse::<IpAddr>().unwrap()]));
        assert_eq!(dns.any_ip("nxdomain.test").await, Err(DnsError::NxDomain));
        assert_eq!(dns.any_ip("txt-only.test").await, Ok(vec![]));
    });
}

#[test]
fn no_dns_server_listening_is_could_not_tell() {
    let nobody = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr: SocketAddr = nobody.local_addr().unwrap();
    drop(nobody);
    block_on(async {
        let dns = SystemResolver::new(&[addr]).unwrap();
        assert!(failed(dns.mx("good.test").await).contains("timed out"));
        failed(dns.ips("good.test").await);
    });
}
