"""Hand-written word lists the offline backend reads jobs with (skills, cues, abbreviations)."""

from __future__ import annotations

from collections.abc import Mapping

# Title abbreviations and their expansions; keys are lowercase, without the trailing dot.
TITLE_ABBREVIATIONS: Mapping[str, str] = {
    "sr": "Senior",
    "snr": "Senior",
    "jr": "Junior",
    "mgr": "Manager",
    "mngr": "Manager",
    "asst": "Assistant",
    "assoc": "Associate",
    "dir": "Director",
    "coord": "Coordinator",
    "spec": "Specialist",
    "rep": "Representative",
    "reps": "Representatives",
    "acct": "Account",
    "mktg": "Marketing",
    "engr": "Engineer",
    "eng": "Engineer",
    "mgmt": "Management",
    "svc": "Service",
    "svcs": "Services",
    "cust": "Customer",
    "ops": "Operations",
    "supv": "Supervisor",
    "admin": "Administrative",
    "tech": "Technician",
    "techs": "Technicians",
    "dev": "Developer",
    "rn": "Registered Nurse",
    "lpn": "Licensed Practical Nurse",
    "lvn": "Licensed Vocational Nurse",
    "cna": "Certified Nursing Assistant",
    "np": "Nurse Practitioner",
    "pa-c": "Physician Assistant",
    "swe": "Software Engineer",
    "exec": "Executive",
    "intl": "International",
    "natl": "National",
    "ctr": "Center",
}

# Words kept upper case when a title is re-cased.
ACRONYMS: frozenset[str] = frozenset(
    {
        "ai", "aws", "bi", "cdl", "ceo", "cfo", "cio", "cmo", "coo", "cpa", "crm", "cto",
        "er", "erp", "fp&a", "gcp", "hr", "hrbp", "hvac", "icu", "ii", "iii", "it", "iv",
        "ml", "nicu", "or", "pr", "qa", "rn", "sap", "seo", "sem", "sql", "sre", "ui", "us",
        "usa", "ux", "vp", "pmo", "cpg", "etl", "api", "b2b", "b2c", "saas", "soc", "dba",
    }
)  # fmt: skip

SMALL_WORDS: frozenset[str] = frozenset(
    {"a", "an", "and", "as", "at", "by", "for", "in", "of", "on", "or", "the", "to", "with"}
)

# Seniority words ignored when matching a title against occupation titles.
SENIORITY_WORDS: frozenset[str] = frozenset(
    {
        "senior", "junior", "lead", "principal", "staff", "entry", "level", "mid", "i", "ii",
        "iii", "iv", "sr", "jr", "trainee", "experienced",
    }
)  # fmt: skip

# Phrases in a title segment that mark it as employment terms, not part of the role.
EMPLOYMENT_TERMS: frozenset[str] = frozenset(
    {
        "remote", "hybrid", "onsite", "on-site", "on site", "part-time", "part time",
        "full-time", "full time", "temporary", "temp", "contract", "per diem", "prn",
        "seasonal", "ft", "pt", "nights", "days", "weekends", "evenings", "overnight",
        "urgent", "immediate start", "hiring now", "now hiring", "sign-on bonus",
        "work from home", "wfh", "travel", "flexible",
    }
)  # fmt: skip

US_STATES: frozenset[str] = frozenset(
    {
        "al", "ak", "az", "ar", "ca", "co", "ct", "de", "fl", "ga", "hi", "id", "il", "in",
        "ia", "ks", "ky", "la", "me", "md", "ma", "mi", "mn", "ms", "mo", "mt", "ne", "nv",
        "nh", "nj", "nm", "ny", "nc", "nd", "oh", "ok", "or", "pa", "ri", "sc", "sd", "tn",
        "tx", "ut", "vt", "va", "wa", "wv", "wi", "wy", "dc", "alabama", "alaska", "arizona",
        "arkansas", "california", "colorado", "connecticut", "delaware", "florida",
        "georgia", "hawaii", "idaho", "illinois", "indiana", "iowa", "kansas", "kentucky",
        "louisiana", "maine", "maryland", "massachusetts", "michigan", "minnesota",
        "mississippi", "missouri", "montana", "nebraska", "nevada", "new hampshire",
        "new jersey", "new mexico", "new york", "north carolina", "north dakota", "ohio",
        "oklahoma", "oregon", "pennsylvania", "rhode island", "south carolina",
        "south dakota", "tennessee", "texas", "utah", "vermont", "virginia", "washington",
        "west virginia", "wisconsin", "wyoming",
    }
)  # fmt: skip

# Skill phrase (lowercase) -> how it is displayed.
SKILLS: Mapping[str, str] = {
    s.lower(): s
    for s in (
        "Python", "Java", "JavaScript", "TypeScript", "SQL", "C++", "C#", "Go", "Rust", "Ruby",
        "PHP", "Scala", "R", "Swift", "Kotlin", "HTML", "CSS", "React", "Angular", "Vue",
        "Node.js", "Django", "Flask", "Spring", ".NET", "AWS", "Azure", "GCP", "Docker",
        "Kubernetes", "Terraform", "Linux", "Git", "CI/CD", "Jenkins", "Ansible", "Snowflake",
        "Spark", "Hadoop", "Airflow", "dbt", "Tableau", "Power BI", "Looker", "Excel",
        "Machine Learning", "Deep Learning", "Statistics", "Data Analysis", "Data Modeling",
        "Data Visualization", "ETL", "APIs", "Microservices", "Agile", "Scrum", "Jira",
        "Cybersecurity", "Network Security", "Firewalls", "SIEM", "Active Directory",
        "Incident Response", "Penetration Testing", "Cloud Security", "DevOps",
        "Troubleshooting", "Help Desk", "ServiceNow", "Salesforce", "HubSpot", "Marketo",
        "Google Analytics", "Google Ads", "SEO", "SEM", "Content Strategy", "Copywriting",
        "Social Media", "Email Marketing", "Brand Management", "Market Research",
        "Campaign Management", "Adobe Creative Suite", "Photoshop", "Figma", "Public Relations",
        "Financial Modeling", "Financial Analysis", "Forecasting", "Budgeting", "GAAP",
        "Financial Reporting", "Accounts Payable", "Accounts Receivable", "Reconciliation",
        "QuickBooks", "NetSuite", "SAP", "Oracle", "Audit", "Tax", "FP&A", "Valuation",
        "Recruiting", "Talent Acquisition", "Onboarding", "Employee Relations", "Workday",
        "HRIS", "Compensation", "Benefits Administration", "Payroll", "Performance Management",
        "Patient Care", "Medication Administration", "BLS", "ACLS", "PALS", "CPR", "EHR",
        "Epic", "Triage", "Care Planning", "Infection Control", "Phlebotomy", "Vital Signs",
        "Clinical Documentation", "HIPAA", "Case Management", "Telemetry",
        "Supply Chain Management", "Inventory Management", "Procurement", "Logistics",
        "Merchandising", "Demand Planning", "Vendor Management", "E-commerce", "Forklift",
        "Shipping and Receiving", "Order Picking", "Packing", "Pallet Jack", "RF Scanner",
        "Customer Service", "Communication", "Teamwork", "Leadership", "Problem Solving",
        "Time Management", "Project Management", "Stakeholder Management", "Negotiation",
        "Sales", "Account Management", "Business Development", "Lead Generation",
        "Cold Calling", "CRM", "Microsoft Office", "Data Entry", "Scheduling",
        "Bookkeeping", "Attention to Detail", "Multitasking", "Bilingual", "Spanish",
        "Training", "Coaching", "Mentoring", "Presentation Skills", "Strategic Planning",
        "Process Improvement", "Six Sigma", "Lean", "Risk Management", "Compliance",
        "Quality Assurance", "Testing", "Technical Writing", "Research", "Driving",
        "Clean Driving Record", "CDL", "Heavy Lifting", "Food Safety", "Cash Handling",
        "Point of Sale", "Cleaning", "Safety Procedures", "Zendesk", "Live Chat",
        "Ticketing Systems", "Conflict Resolution", "Product Management", "Roadmapping",
        "User Research", "A/B Testing", "Wireframing", "Prototyping", "UX Design",
        "UI Design", "Curriculum Development", "Classroom Management", "Contract Law",
        "Legal Research", "Litigation",
    )
}  # fmt: skip

# Short skills that are common words in prose: only trusted when written in their case.
CASE_SENSITIVE_SKILLS: frozenset[str] = frozenset({"go", "r", "lean", "epic", "tax", "sales"})

# Verbs that start a responsibility sentence or bullet.
ACTION_VERBS: frozenset[str] = frozenset(
    {
        "manage", "lead", "develop", "design", "build", "analyze", "analyse", "create",
        "coordinate", "provide", "support", "maintain", "prepare", "review", "ensure",
        "collaborate", "monitor", "assist", "deliver", "drive", "implement", "plan",
        "conduct", "perform", "oversee", "administer", "assess", "communicate", "respond",
        "resolve", "process", "track", "report", "train", "mentor", "write", "own",
        "partner", "identify", "improve", "optimize", "optimise", "execute", "load",
        "unload", "pick", "pack", "operate", "handle", "document", "educate", "evaluate",
        "recruit", "negotiate", "research", "test", "troubleshoot", "configure", "install",
        "deploy", "sell", "serve", "greet", "clean", "stock", "launch", "grow", "define",
        "establish", "facilitate", "guide", "help", "inspect", "investigate", "model",
        "forecast", "reconcile", "schedule", "answer", "care",
        "organize", "organise", "present", "produce", "promote", "protect", "source",
        "translate", "verify", "work", "lift", "transport", "sort", "scan", "receive",
    }
)  # fmt: skip

# Words of a description that say what the person will change (the "impact" criterion).
IMPACT_WORDS: frozenset[str] = frozenset(
    {
        "drive", "lead", "build", "improve", "grow", "launch", "deliver", "own", "scale",
        "transform", "optimize", "optimise", "shape", "increase", "reduce", "accelerate",
        "impact", "outcomes", "results", "revenue", "growth", "strategy", "innovate",
        "champion", "pioneer", "spearhead", "influence",
    }
)  # fmt: skip

HOOK_WORDS: frozenset[str] = frozenset(
    {
        "join", "mission", "passionate", "growing", "opportunity", "impact", "help",
        "community", "innovative", "award-winning", "leading", "purpose", "exciting",
        "make", "change", "career", "believe", "vision",
    }
)  # fmt: skip

SPAM_PHRASES: tuple[str, ...] = (
    "$$$", "!!!", "earn up to", "hiring immediately", "no experience needed", "apply now!",
    "urgent", "instant pay", "get paid daily", "hiring now", "act fast", "asap",
)  # fmt: skip

STRUCTURE_WORDS: frozenset[str] = frozenset(
    {
        "responsibilities", "requirements", "qualifications", "duties", "skills",
        "experience", "benefits", "about", "role", "preferred", "required",
    }
)  # fmt: skip

# Cue phrase in a company name or description -> LinkedIn industry label. Order matters:
# on equal evidence the earlier cue wins, so specific cues come before general ones.
INDUSTRY_CUES: tuple[tuple[str, str], ...] = (
    ("medical device", "Medical Equipment Manufacturing"),
    ("medical devices", "Medical Equipment Manufacturing"),
    ("medtech", "Medical Equipment Manufacturing"),
    ("pharmaceutical", "Pharmaceutical Manufacturing"),
    ("pharmaceuticals", "Pharmaceutical Manufacturing"),
    ("pharma", "Pharmaceutical Manufacturing"),
    ("biotech", "Biotechnology Research"),
    ("biotechnology", "Biotechnology Research"),
    ("therapeutics", "Biotechnology Research"),
    ("biosciences", "Biotechnology Research"),
    ("home health", "Home Health Care Services"),
    ("home care", "Home Health Care Services"),
    ("hospice", "Home Health Care Services"),
    ("nursing home", "Nursing Homes and Residential Care Facilities"),
    ("senior living", "Nursing Homes and Residential Care Facilities"),
    ("assisted living", "Nursing Homes and Residential Care Facilities"),
    ("skilled nursing", "Nursing Homes and Residential Care Facilities"),
    ("behavioral health", "Mental Health Care"),
    ("mental health", "Mental Health Care"),
    ("dental", "Dentists"),
    ("urgent care", "Outpatient Care Centers"),
    ("clinic", "Outpatient Care Centers"),
    ("hospital", "Hospitals"),
    ("hospitals", "Hospitals"),
    ("medical center", "Hospitals"),
    ("health system", "Hospitals"),
    ("healthcare", "Hospitals and Health Care"),
    ("health care", "Hospitals and Health Care"),
    ("health", "Hospitals and Health Care"),
    ("medical", "Hospitals and Health Care"),
    ("patients", "Hospitals and Health Care"),
    ("cybersecurity", "Computer and Network Security"),
    ("cyber security", "Computer and Network Security"),
    ("it consulting", "IT Services and IT Consulting"),
    ("it services", "IT Services and IT Consulting"),
    ("managed services", "IT Services and IT Consulting"),
    ("saas", "Software Development"),
    ("software", "Software Development"),
    ("platform", "Software Development"),
    ("app", "Software Development"),
    ("analytics", "Data Infrastructure and Analytics"),
    ("telecom", "Telecommunications"),
    ("telecommunications", "Telecommunications"),
    ("wireless", "Telecommunications"),
    ("technologies", "IT Services and IT Consulting"),
    ("technology", "Technology, Information and Internet"),
    ("tech", "Technology, Information and Internet"),
    ("credit union", "Banking"),
    ("bank", "Banking"),
    ("banking", "Banking"),
    ("bancorp", "Banking"),
    ("insurance", "Insurance"),
    ("assurance", "Insurance"),
    ("venture capital", "Venture Capital and Private Equity Principals"),
    ("private equity", "Venture Capital and Private Equity Principals"),
    ("asset management", "Investment Management"),
    ("wealth management", "Investment Management"),
    ("investments", "Investment Management"),
    ("cpas", "Accounting"),
    ("accounting firm", "Accounting"),
    ("financial", "Financial Services"),
    ("finance", "Financial Services"),
    ("capital", "Financial Services"),
    ("grocery", "Retail Groceries"),
    ("supermarket", "Retail Groceries"),
    ("apparel", "Retail Apparel and Fashion"),
    ("fashion", "Retail Apparel and Fashion"),
    ("clothing", "Retail Apparel and Fashion"),
    ("e-commerce", "Online and Mail Order Retail"),
    ("ecommerce", "Online and Mail Order Retail"),
    ("online retailer", "Online and Mail Order Retail"),
    ("retailer", "Retail"),
    ("retail", "Retail"),
    ("stores", "Retail"),
    ("store", "Retail"),
    ("restaurant", "Restaurants"),
    ("restaurants", "Restaurants"),
    ("grill", "Restaurants"),
    ("pizza", "Restaurants"),
    ("cafe", "Restaurants"),
    ("bistro", "Restaurants"),
    ("catering", "Caterers"),
    ("hotel", "Hotels and Motels"),
    ("hotels", "Hotels and Motels"),
    ("resort", "Hotels and Motels"),
    ("hospitality", "Hospitality"),
    ("trucking", "Truck Transportation"),
    ("freight", "Freight and Package Transportation"),
    ("parcel", "Freight and Package Transportation"),
    ("delivery", "Freight and Package Transportation"),
    ("warehousing", "Warehousing and Storage"),
    ("warehouse", "Warehousing and Storage"),
    ("fulfillment", "Warehousing and Storage"),
    ("distribution center", "Warehousing and Storage"),
    ("logistics", "Transportation, Logistics, Supply Chain and Storage"),
    ("supply chain", "Transportation, Logistics, Supply Chain and Storage"),
    ("airline", "Airlines and Aviation"),
    ("airlines", "Airlines and Aviation"),
    ("aviation", "Airlines and Aviation"),
    ("university", "Higher Education"),
    ("college", "Higher Education"),
    ("school district", "Primary and Secondary Education"),
    ("elementary", "Primary and Secondary Education"),
    ("school", "Primary and Secondary Education"),
    ("schools", "Primary and Secondary Education"),
    ("academy", "Primary and Secondary Education"),
    ("education", "Education"),
    ("staffing", "Staffing and Recruiting"),
    ("recruiting", "Staffing and Recruiting"),
    ("talent solutions", "Staffing and Recruiting"),
    ("personnel", "Staffing and Recruiting"),
    ("advertising", "Advertising Services"),
    ("agency", "Advertising Services"),
    ("marketing", "Marketing Services"),
    ("public relations", "Public Relations and Communications Services"),
    ("publishing", "Book and Periodical Publishing"),
    ("media", "Media & Telecommunications"),
    ("county", "Government Administration"),
    ("city of", "Government Administration"),
    ("state of", "Government Administration"),
    ("department of", "Government Administration"),
    ("government", "Government Administration"),
    ("federal", "Government Administration"),
    ("police", "Law Enforcement"),
    ("sheriff", "Law Enforcement"),
    ("foundation", "Non-profit Organizations"),
    ("nonprofit", "Non-profit Organizations"),
    ("non-profit", "Non-profit Organizations"),
    ("charity", "Non-profit Organizations"),
    ("automotive", "Motor Vehicle Manufacturing"),
    ("motors", "Motor Vehicle Manufacturing"),
    ("aerospace", "Aviation and Aerospace Component Manufacturing"),
    ("defense", "Defense and Space Manufacturing"),
    ("foods", "Food and Beverage Manufacturing"),
    ("beverage", "Food and Beverage Manufacturing"),
    ("manufacturing", "Manufacturing"),
    ("manufacturer", "Manufacturing"),
    ("industries", "Manufacturing"),
    ("construction", "Construction"),
    ("builders", "Construction"),
    ("contractors", "Construction"),
    ("roofing", "Construction"),
    ("energy", "Utilities"),
    ("utility", "Utilities"),
    ("utilities", "Utilities"),
    ("oil", "Oil and Gas"),
    ("petroleum", "Oil and Gas"),
    ("real estate", "Real Estate"),
    ("realty", "Real Estate"),
    ("properties", "Real Estate"),
    ("property management", "Real Estate"),
    ("law firm", "Law Practice"),
    ("llp", "Law Practice"),
    ("attorneys", "Law Practice"),
    ("janitorial", "Janitorial Services"),
    ("cleaning services", "Janitorial Services"),
    ("security services", "Security Guards and Patrol Services"),
    ("facilities", "Facilities Services"),
    ("call center", "Telephone Call Centers"),
    ("contact center", "Telephone Call Centers"),
    ("fitness", "Wellness and Fitness Services"),
    ("gym", "Wellness and Fitness Services"),
    ("consulting", "Business Consulting and Services"),
    ("consultants", "Business Consulting and Services"),
    ("advisory", "Business Consulting and Services"),
)

# SOC major group (first two digits of an O*NET code) -> the industry most of its jobs are
# in: used only when neither the company nor the description names an industry.
SOC_MAJOR_INDUSTRY: Mapping[str, str] = {
    "11": "Professional Services",
    "13": "Financial Services",
    "15": "IT Services and IT Consulting",
    "17": "Professional Services",
    "19": "Research Services",
    "21": "Individual and Family Services",
    "23": "Law Practice",
    "25": "Education",
    "27": "Entertainment Providers",
    "29": "Hospitals and Health Care",
    "31": "Hospitals and Health Care",
    "33": "Security and Investigations",
    "35": "Restaurants",
    "37": "Facilities Services",
    "39": "Consumer Services",
    "41": "Retail",
    "43": "Administrative and Support Services",
    "45": "Farming, Ranching, Forestry",
    "47": "Construction",
    "49": "Facilities Services",
    "51": "Manufacturing",
    "53": "Transportation, Logistics, Supply Chain and Storage",
    "55": "Armed Forces",
}
