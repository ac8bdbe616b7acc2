//! The word lists the generators draw from. Every name carries an ASCII spelling for email
//! addresses; lengths stay within Salesforce's field limits (FirstName 40, LastName 80,
//! MailingCity 40, Phone 40, AssistantName 40).

/// A name as displayed plus its lowercase ASCII transliteration for email local parts.
pub(crate) type Name = (&'static str, &'static str);

/// A city with the pieces of a postal address.
pub(crate) struct City {
    pub(crate) city: &'static str,
    pub(crate) region: Option<&'static str>,
    pub(crate) postal_codes: &'static [&'static str],
    pub(crate) country: &'static str,
    pub(crate) streets: &'static [&'static str],
}

/// Names, places and phone formats that belong together.
pub(crate) struct Culture {
    pub(crate) given: &'static [Name],
    pub(crate) family: &'static [Name],
    pub(crate) middle: &'static [&'static str],
    /// Phone patterns: `#` is replaced by a random digit.
    pub(crate) phones: &'static [&'static str],
    pub(crate) cities: &'static [City],
    /// The IANA zone people of this culture usually schedule in.
    pub(crate) zone: &'static str,
}

pub(crate) const CULTURES: &[Culture] = &[
    // English-speaking (US / UK / Australia).
    Culture {
        given: &[
            ("Zoë", "zoe"),
            ("Oliver", "oliver"),
            ("Emma", "emma"),
            ("Liam", "liam"),
            ("Charlotte", "charlotte"),
            ("James", "james"),
            ("Siobhán", "siobhan"),
            ("Noah", "noah"),
        ],
        family: &[
            ("Martin", "martin"),
            ("O'Brien", "obrien"),
            ("Smith", "smith"),
            ("Taylor", "taylor"),
            ("Johnson-Reid", "johnson-reid"),
            ("McAllister", "mcallister"),
            ("Nguyen", "nguyen"),
        ],
        middle: &["Anne", "J.", "Marie", "Robert", "Lee"],
        phones: &["+1 (212) 555-01##", "+1 415-555-01## x###", "+44 20 7946 0###", "+61 2 5550 ####"],
        cities: &[
            City {
                city: "New York",
                region: Some("NY"),
                postal_codes: &["10001", "10017", "10118"],
                country: "United States",
                streets: &["350 Fifth Avenue", "1 Liberty Plaza, Suite 1200", "Floor 32\n200 Park Avenue"],
            },
            City {
                city: "San Francisco",
                region: Some("CA"),
                postal_codes: &["94105", "94107"],
                country: "United States",
                streets: &["415 Mission Street", "1 Market St, Spear Tower"],
            },
            City {
                city: "London",
                region: None,
                postal_codes: &["EC2V 7HH", "NW1 6XE", "SE1 9SG"],
                country: "United Kingdom",
                streets: &["221B Baker Street", "Unit 4, The Old Brewery\n32 Tooley Street"],
            },
            City {
                city: "Sydney",
                region: Some("NSW"),
                postal_codes: &["2000", "2060"],
                country: "Australia",
                streets: &["Level 12, 1 Macquarie Place", "88 George Street"],
            },
        ],
        zone: "America/New_York",
    },
    // French.
    Culture {
        given: &[
            ("François", "francois"),
            ("Hélène", "helene"),
            ("Anaïs", "anais"),
            ("Jérôme", "jerome"),
            ("Maëlle", "maelle"),
            ("Benoît", "benoit"),
        ],
        family: &[
            ("Lefèvre", "lefevre"),
            ("Dubois", "dubois"),
            ("Mercier", "mercier"),
            ("Garnier-Roux", "garnier-roux"),
            ("de La Fontaine", "delafontaine"),
        ],
        middle: &["Marie", "Élise", "Pierre"],
        phones: &["+33 1 ## ## ## ##", "+33 6 ## ## ## ##", "+33 4 72 ## ## ##"],
        cities: &[
            City {
                city: "Paris",
                region: Some("Île-de-France"),
                postal_codes: &["75008", "75011", "75002"],
                country: "France",
                streets: &["12, rue de Rivoli", "Bâtiment B\n45 avenue des Champs-Élysées", "3 place de l'Opéra"],
            },
            City {
                city: "Lyon",
                region: Some("Auvergne-Rhône-Alpes"),
                postal_codes: &["69002", "69003"],
                country: "France",
                streets: &["8 quai Saint-Antoine", "27 cours Lafayette"],
            },
        ],
        zone: "Europe/Paris",
    },
    // Spanish.
    Culture {
        given: &[
            ("José", "jose"),
            ("María", "maria"),
            ("Lucía", "lucia"),
            ("Íñigo", "inigo"),
            ("Begoña", "begona"),
            ("Andrés", "andres"),
        ],
        family: &[
            ("García", "garcia"),
            ("Núñez", "nunez"),
            ("Fernández", "fernandez"),
            ("de la Cruz", "delacruz"),
            ("Muñoz Ortega", "munoz-ortega"),
        ],
        middle: &["Luis", "Carmen", "Ángel"],
        phones: &["+34 91 ### ## ##", "+34 6## ### ###", "+52 55 #### ####"],
        cities: &[
            City {
                city: "Madrid",
                region: Some("Comunidad de Madrid"),
                postal_codes: &["28013", "28046"],
                country: "España",
                streets: &["Calle de Alcalá, 42, 3º izq.", "Paseo de la Castellana 259"],
            },
            City {
                city: "Ciudad de México",
                region: Some("CDMX"),
                postal_codes: &["06600", "11560"],
                country: "México",
                streets: &["Av. Paseo de la Reforma 222, Piso 10", "Calle Río Lerma 156"],
            },
        ],
        zone: "Europe/Paris",
    },
    // Nordic.
    Culture {
        given: &[("Søren", "soren"), ("Åsa", "asa"), ("Bjørn", "bjorn"), ("Ingrid", "ingrid"), ("Mikkel", "mikkel")],
        family: &[
            ("Jørgensen", "jorgensen"),
            ("Ødegård", "odegard"),
            ("Lindqvist", "lindqvist"),
            ("Håkansson", "hakansson"),
        ],
        middle: &["Emil", "Sofie"],
        phones: &["+45 32 ## ## ##", "+46 8 ### ### ##", "+47 22 ## ## ##"],
        cities: &[
            City {
                city: "København",
                region: None,
                postal_codes: &["1620", "2100"],
                country: "Danmark",
                streets: &["Vesterbrogade 3, 2. th.", "Østerbrogade 120"],
            },
            City {
                city: "Stockholm",
                region: None,
                postal_codes: &["111 52", "114 35"],
                country: "Sverige",
                streets: &["Drottninggatan 71", "Strandvägen 7A"],
            },
        ],
        zone: "Europe/Paris",
    },
    // Polish.
    Culture {
        given: &[
            ("Łukasz", "lukasz"),
            ("Małgorzata", "malgorzata"),
            ("Wojciech", "wojciech"),
            ("Agnieszka", "agnieszka"),
            ("Paweł", "pawel"),
        ],
        family: &[
            ("Wiśniewski", "wisniewski"),
            ("Kowalczyk", "kowalczyk"),
            ("Żółkiewska", "zolkiewska"),
            ("Dąbrowski", "dabrowski"),
        ],
        middle: &["Jan", "Anna"],
        phones: &["+48 22 ### ## ##", "+48 6## ### ###"],
        cities: &[
            City {
                city: "Warszawa",
                region: Some("mazowieckie"),
                postal_codes: &["00-026", "02-672"],
                country: "Polska",
                streets: &["ul. Marszałkowska 104/122", "al. Jerozolimskie 65/79, lok. 3"],
            },
            City {
                city: "Łódź",
                region: Some("łódzkie"),
                postal_codes: &["90-001", "90-365"],
                country: "Polska",
                streets: &["ul. Piotrkowska 148", "ul. Ogrodowa 17"],
            },
        ],
        zone: "Europe/Paris",
    },
    // Japanese.
    Culture {
        given: &[("美咲", "misaki"), ("陽翔", "haruto"), ("結衣", "yui"), ("蓮", "ren"), ("さくら", "sakura")],
        family: &[("佐藤", "sato"), ("鈴木", "suzuki"), ("高橋", "takahashi"), ("渡辺", "watanabe")],
        middle: &[],
        phones: &["+81 3-####-####", "+81 90-####-####", "+81 6-####-####"],
        cities: &[
            City {
                city: "東京",
                region: Some("東京都"),
                postal_codes: &["100-0005", "150-0002"],
                country: "日本",
                streets: &["千代田区丸の内1-1-1", "渋谷区渋谷2-21-1 ヒカリエ 15階"],
            },
            City {
                city: "大阪",
                region: Some("大阪府"),
                postal_codes: &["530-0001"],
                country: "日本",
                streets: &["北区梅田3-1-3"],
            },
        ],
        zone: "Asia/Tokyo",
    },
    // Nigerian.
    Culture {
        given: &[
            ("Ngozi", "ngozi"),
            ("Chinedu", "chinedu"),
            ("Oluwaseun", "oluwaseun"),
            ("Adaeze", "adaeze"),
            ("Emeka", "emeka"),
        ],
        family: &[("Okafor", "okafor"), ("Adeyemi", "adeyemi"), ("Eze", "eze"), ("Okonkwo-Bello", "okonkwo-bello")],
        middle: &["Chiamaka", "Tunde"],
        phones: &["+234 803 ### ####", "+234 1 ### ####"],
        cities: &[City {
            city: "Lagos",
            region: Some("Lagos State"),
            postal_codes: &["101241", "106104"],
            country: "Nigeria",
            streets: &["14 Adeola Odeku Street, Victoria Island", "Plot 5, Admiralty Way\nLekki Phase 1"],
        }],
        zone: "UTC",
    },
    // Greek.
    Culture {
        given: &[("Αλέξανδρος", "alexandros"), ("Ελένη", "eleni"), ("Γιώργος", "giorgos"), ("Κατερίνα", "katerina")],
        family: &[("Παπαδόπουλος", "papadopoulos"), ("Κωνσταντίνου", "konstantinou"), ("Οικονόμου", "oikonomou")],
        middle: &[],
        phones: &["+30 21 0### ####", "+30 69# ### ####"],
        cities: &[City {
            city: "Αθήνα",
            region: Some("Αττική"),
            postal_codes: &["105 63", "106 71"],
            country: "Ελλάδα",
            streets: &["Οδός Ερμού 25", "Λεωφόρος Βασιλίσσης Σοφίας 10"],
        }],
        zone: "Europe/London",
    },
    // German.
    Culture {
        given: &[("Jürgen", "juergen"), ("Käthe", "kaethe"), ("Lena", "lena"), ("Maximilian", "maximilian")],
        family: &[("Müller", "mueller"), ("Schröder", "schroeder"), ("Weiß", "weiss"), ("von Bülow", "vonbuelow")],
        middle: &["Friedrich", "Sophie"],
        phones: &["+49 30 ########", "+49 89 #### ###-##", "+49 151 ########"],
        cities: &[City {
            city: "Berlin",
            region: Some("Berlin"),
            postal_codes: &["10117", "10178"],
            country: "Deutschland",
            streets: &["Friedrichstraße 43", "Hinterhaus, 3. OG\nTorstraße 109"],
        }],
        zone: "Europe/Paris",
    },
    // Indian.
    Culture {
        given: &[("Priya", "priya"), ("Arjun", "arjun"), ("Ananya", "ananya"), ("Vikram", "vikram")],
        family: &[("Sharma", "sharma"), ("Iyer", "iyer"), ("Venkataraman", "venkataraman"), ("Banerjee", "banerjee")],
        middle: &["Kumar", "Devi"],
        phones: &["+91 22 #### ####", "+91 98### #####"],
        cities: &[City {
            city: "Mumbai",
            region: Some("Maharashtra"),
            postal_codes: &["400001", "400051"],
            country: "India",
            streets: &["Nariman Point, 7th Floor, Maker Chambers IV", "12 Bandra Kurla Complex"],
        }],
        zone: "Asia/Tokyo",
    },
    // Chinese and Vietnamese.
    Culture {
        given: &[("伟", "wei"), ("秀英", "xiuying"), ("Minh", "minh"), ("Thảo", "thao")],
        family: &[("王", "wang"), ("李", "li"), ("Nguyễn", "nguyen"), ("Trần", "tran")],
        middle: &["Văn", "Thị"],
        phones: &["+86 10 #### ####", "+84 28 #### ####"],
        cities: &[City {
            city: "Hồ Chí Minh",
            region: None,
            postal_codes: &["700000"],
            country: "Việt Nam",
            streets: &["72 Lê Thánh Tôn, Quận 1"],
        }],
        zone: "Australia/Sydney",
    },
];

/// Companies with the mail domain their people use (all under the reserved example TLDs).
pub(crate) const COMPANIES: &[(&str, &str)] = &[
    ("Acme Logistics", "acme-logistics.example.com"),
    ("Fabrikam, Inc.", "fabrikam.example.com"),
    ("Contoso Ltd", "contoso.example.com"),
    ("Northwind Traders", "northwind.example.com"),
    ("Brasserie Lumière SARL", "lumiere.example.fr"),
    ("Nordlys ApS", "nordlys.example.dk"),
    ("Kowalski & Synowie Sp. z o.o.", "kowalski.example.pl"),
    ("株式会社さくら電機", "sakura-denki.example.jp"),
    ("Müller Maschinenbau GmbH", "mueller-mb.example.de"),
    ("Ελληνικά Ναυπηγεία Α.Ε.", "naupigeia.example.gr"),
    ("Globex Corporation", "globex.example.com"),
    ("Adebayo & Partners", "adebayo.example.org"),
    ("Tailspin Toys", "tailspin.example.com"),
    ("Café del Río S.L.", "cafedelrio.example.es"),
];

/// The domain for personal (home) addresses.
pub(crate) const HOME_DOMAINS: &[&str] = &["mail.example.net", "inbox.example.org", "post.example.net"];

pub(crate) const TITLES: &[&str] = &[
    "Account Executive",
    "VP, Sales",
    "Directrice financière",
    "Chief Technology Officer",
    "Procurement Manager",
    "Ingeniera de Software",
    "営業部長",
    "Head of Partnerships (EMEA)",
    "Office Manager",
    "Senior Buyer",
    "Geschäftsführer",
    "Customer Success Lead",
];

pub(crate) const DEPARTMENTS: &[&str] = &[
    "Sales",
    "Finance",
    "R&D",
    "Operations",
    "Procurement",
    "Marketing",
    "Legal",
    "IT",
    "Ventes",
    "Einkauf",
    "営業部",
];

pub(crate) const ASSISTANTS: &[&str] =
    &["Marie-Claire Dupont", "Tom Baker", "Inés Romero", "Kasia Nowak", "由美 田中", "Grace Eze", "Ólafur Jónsson"];

pub(crate) const NOTES: &[&str] = &[
    "Met at the Lyon expo; prefers email over phone.",
    "Follow up in Q3, re: renewal of the 3-year contract.",
    "Decision maker for EMEA; budget owner, signs off > 50k€.",
    "Allergic to nuts — remember for the dinner.",
    "Speaks English, French and a little Japanese.",
    "Introduced by Ngozi; warm lead, \"very interested\".",
    "Shared drive: C:\\Shares\\Sales\\2026",
    "Prefers calls after 14:00 CET; never on Fridays.",
    "Kids: Lea (8), Jonas (11).",
    "Old address: 4 Rue Neuve, 1000 Bruxelles",
];

pub(crate) const MEETING_SUBJECTS: &[&str] = &[
    "Réunion d'équipe",
    "Quarterly business review – Q3",
    "Kick-off: Łódź office",
    "定例会議",
    "Συνάντηση με πελάτη",
    "Café con el equipo de ventas",
    "Pricing workshop; draft v2",
    "Contract negotiation, round 2",
    "Demo for Müller Maschinenbau",
    "Interview: Senior Buyer",
    "Budget 2027 — first pass",
    "Lunch & learn: Rust at scale",
    "Onboarding — Søren",
    "Partner call (Lagos)",
];

pub(crate) const WEEKLY_SUBJECTS: &[&str] = &[
    "Weekly sync",
    "Équipe commerciale — point hebdo",
    "週次定例",
    "Pipeline review",
    "Office hours",
    "Εβδομαδιαία ενημέρωση",
    "1:1 Zoë / Søren",
];

pub(crate) const DAILY_SUBJECTS: &[&str] = &["Daily stand-up", "Stand-up quotidien", "朝会", "Codzienny stand-up"];

pub(crate) const MONTHLY_SUBJECTS: &[&str] =
    &["Monthly business review", "Comité de direction mensuel", "Monatsabschluss", "Revisión mensual de ventas"];

pub(crate) const ALL_DAY_SUBJECTS: &[(&str, bool)] = &[
    // (subject, out of office?)
    ("Company holiday", false),
    ("Vacation – Lisbon", true),
    ("Congés", true),
    ("休暇", true),
    ("Salon VivaTech (Paris)", false),
    ("Konferenz: Hannover Messe", false),
    ("Inventory day", false),
    ("Semana Santa", true),
    ("Bank holiday", false),
    ("Offsite, Kraków", false),
];

pub(crate) const PERSONAL_SUBJECTS: &[&str] =
    &["Focus time", "Dentist", "Pick up kids", "Gym", "Doctor's appointment", "Déjeuner"];

pub(crate) const LOCATIONS: &[&str] = &[
    "Salle Eiffel, 3ᵉ étage",
    "Microsoft Teams Meeting",
    "会議室A (東京)",
    "Café Müller, Friedrichstraße 12, Berlin",
    "Αθήνα — Γραφείο",
    "https://meet.example.com/abc-defg-hij",
    "Boardroom 4.01",
    "Sala Goya; Madrid",
    "Conference room \"Oslo\"",
];

/// Meeting rooms: (display name, email).
pub(crate) const ROOMS: &[(&str, &str)] = &[
    ("Salle Eiffel", "salle.eiffel@rooms.example.com"),
    ("会議室 A", "tokyo-room-a@rooms.example.com"),
    ("Boardroom 4.01", "boardroom-401@rooms.example.com"),
    ("Projector (mobile)", "projector-1@equipment.example.com"),
];

pub(crate) const CATEGORIES: &[&str] =
    &["Blue category", "Red category", "Kunde", "Projet Α", "営業", "Follow-up", "Internal", "Travel"];

pub(crate) const DESCRIPTIONS: &[&str] = &[
    "Agenda:\n1. Pipeline review\n2. Budget; Q&A\n3. AOB",
    "Please bring the signed NDA.\nParking: level -2, spaces 14–16.",
    "Join online: https://meet.example.com/xyz-1234\nOr dial +1 (212) 555-0199, PIN 4471#",
    "Ordre du jour : bilan, prévisions, divers.",
    "資料は共有フォルダにあります。",
    "Notes from last time, see attached; action items:\n- Łukasz: pricing\n- Zoë: legal review",
];

pub(crate) const FLIGHTS: &[(&str, &str, &str, i64)] = &[
    // (subject, from zone, to zone, minutes)
    ("Flight AF 006 Paris → New York", "Europe/Paris", "America/New_York", 8 * 60 + 35),
    ("Flight NH 212 London → Tokyo", "Europe/London", "Asia/Tokyo", 14 * 60),
    ("Flight QF 12 Los Angeles → Sydney", "America/Los_Angeles", "Australia/Sydney", 15 * 60 + 5),
];

/// The zones single meetings are scheduled in.
pub(crate) const ZONES: &[&str] = &[
    "Europe/Paris",
    "America/New_York",
    "Asia/Tokyo",
    "Europe/London",
    "America/Los_Angeles",
    "Australia/Sydney",
    "UTC",
];
