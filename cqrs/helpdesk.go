package cqrs

// HelpDesk is where a site's people are sent for help: the Contact Us page,
// every email's signature and the error pages that name the help desk.
type HelpDesk struct {
	Email string `json:"email"`
	Phone string `json:"phone"`
	Hours string `json:"hours"`
}

// NationalHelpDesk is the CQRS help desk as the single sign-on user guide
// gives it: what a fresh installation and training mode show.
var NationalHelpDesk = HelpDesk{
	Email: "support@cqrs.co.uk",
	Phone: "0800 4402777",
	Hours: "8am-6pm Mon-Fri exc Bank Holidays",
}
