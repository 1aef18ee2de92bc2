//! PURE: domains of throwaway (disposable) address services. An address at
//! one of them is refused at enrollment like a dead one: nobody reads it a
//! week later. The config's `disposable_domains` adds more.

/// Widely used disposable-address domains (lowercase).
pub const DOMAINS: &[&str] = &[
    "10minutemail.com",
    "guerrillamail.com",
    "mailinator.com",
    "sharklasers.com",
    "temp-mail.org",
    "throwawaymail.com",
    "trashmail.com",
    "yopmail.com",
];
