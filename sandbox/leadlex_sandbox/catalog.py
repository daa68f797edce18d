"""Word lists that make generated campaigns and events look like real outreach data."""

CAMPAIGN_NAMES = (
    "Q3 outreach: SaaS founders",
    "Fintech CFO intro",
    "Webinar follow-up (April)",
    "Agency partners re-engagement",
    "Series A founders, EU",
    "Lexi AI launch announcement",
    "Trial nurture, week 2",
    "SaaStr Europa leads",
    "Head of RevOps cold sequence",
    "Churned customers win-back",
)
FIRST_NAMES = (
    "jane",
    "lukas",
    "maria",
    "tom",
    "aisha",
    "chen",
    "sofia",
    "david",
    "emma",
    "noah",
    "lea",
    "omar",
    "julia",
    "pieter",
    "ines",
    "raj",
    "sara",
    "felix",
    "nina",
    "mateo",
)
LAST_NAMES = (
    "doe",
    "schmidt",
    "garcia",
    "nguyen",
    "khan",
    "li",
    "rossi",
    "berg",
    "martin",
    "costa",
    "novak",
    "silva",
    "weber",
    "jansen",
    "dubois",
    "patel",
    "kowalski",
    "moreau",
)
COMPANY_DOMAINS = (
    "acme-corp.example",
    "brightlabs.example",
    "northwind.example",
    "globex.example",
    "initech.example",
    "umbrella-health.example",
    "contoso.example",
    "fabrikam.example",
    "tailspin.example",
    "wingtip.example",
)
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148",
    "Microsoft Outlook 16.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0 Safari/537.36 Edg/124.0",
)
COUNTRIES = ("DE", "US", "GB", "FR", "NL", "ES", "IT", "SE", "PL", "CA", "AT", "CH")
URLS = (
    "https://leadlex.com/demo",
    "https://leadlex.com/pricing",
    "https://leadlex.com/case-studies/northwind",
    "https://calendly.com/leadlex/30min",
    "https://leadlex.com/blog/outbound-playbook",
)
REPLIES = (
    ("Thanks, this looks interesting. Can we talk next week?", "positive"),
    ("Please send over some pricing details.", "positive"),
    ("Not the right time for us, maybe next quarter.", "neutral"),
    ("I'm out of office until Monday.", "neutral"),
    ("Please remove me from your list.", "negative"),
    ("We already use a competitor, not interested.", "negative"),
)
BOUNCES = (
    ("hard", "550 5.1.1 The email account that you tried to reach does not exist"),
    ("soft", "452 4.2.2 The email account that you tried to reach is over quota"),
    ("soft", "421 4.7.0 Temporary System Problem. Try again later"),
)
